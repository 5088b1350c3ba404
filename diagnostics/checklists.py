"""Runbook checklists on an incident: attach a runbook, tick or untick its steps.

Ticking locks the step's row and changes it only if it is not already in the wanted state, in the
same transaction as its ``runbook_step`` timeline entry: two people ticking the same step at once
make one change and one entry, and the second sees it already done.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from diagnostics.hypotheses import ANNOUNCE, hypotheses_get
from diagnostics.models import ChecklistStep, RunbookChecklist
from diagnostics.runbooks import runbook_get
from incidents.actors import Actor
from incidents.errors import DomainInputError
from incidents.models import Incident, TimelineKind
from incidents.services import incident_guard_frozen
from incidents.timeline import timeline_entry_add


class ChecklistNotFound(Exception):
    pass


def suggested_runbook(incident: Incident) -> dict | None:
    """The top hypothesis's runbook, if it stands out and is not attached yet: ``{slug, title, hypothesis}``."""
    for hypothesis in hypotheses_get(incident)["hypotheses"]:
        if hypothesis.get("confidence", 0) < ANNOUNCE:
            return None
        runbook = runbook_get(hypothesis.get("runbook") or "")
        if runbook is None or not runbook.steps:
            continue
        if RunbookChecklist.objects.filter(incident=incident, slug=runbook.slug).exists():
            return None
        return {"slug": runbook.slug, "title": runbook.title, "hypothesis": hypothesis["key"],
                "because": hypothesis["title"]}  # fmt: skip
    return None


def checklist_attach(
    *, incident: Incident, slug: str, actor: Actor, suggested_by: str = ""
) -> tuple[RunbookChecklist, bool]:
    """Attach the runbook ``slug`` (400 if unknown); (checklist, created). Attaching twice returns the first."""
    incident_guard_frozen(incident)
    runbook = runbook_get(slug)
    if runbook is None or not runbook.steps:
        raise DomainInputError({"slug": [f"No runbook with steps is called {slug!r}."]})
    existing = RunbookChecklist.objects.filter(incident=incident, slug=slug).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            checklist = RunbookChecklist.objects.create(
                incident=incident, slug=slug, title=runbook.title, version=runbook.version,
                suggested_by=suggested_by, attached_by=actor.user,
            )  # fmt: skip
            ChecklistStep.objects.bulk_create(
                ChecklistStep(checklist=checklist, number=step.number, title=step.title) for step in runbook.steps
            )
            timeline_entry_add(
                incident=incident, kind=TimelineKind.RUNBOOK_STEP, actor=actor,
                text=f"Runbook attached: {runbook.title} (v{runbook.version}, {len(runbook.steps)} steps)",
                data={"runbook": slug, "version": runbook.version, "attached": True, "suggested_by": suggested_by},
            )  # fmt: skip
    except IntegrityError:  # attached concurrently
        return RunbookChecklist.objects.get(incident=incident, slug=slug), False
    return checklist, True


def checklist_step_set(
    *, incident: Incident, slug: str, number: int, done: bool, actor: Actor
) -> tuple[ChecklistStep, bool]:
    """Tick (``done``) or untick a step; (step, changed). Unchanged when it already is so: no entry."""
    incident_guard_frozen(incident)
    with transaction.atomic():
        step = (
            ChecklistStep.objects.select_for_update()
            .select_related("checklist")
            .filter(checklist__incident=incident, checklist__slug=slug, number=number)
            .first()
        )
        if step is None:
            raise ChecklistNotFound(f"No step {number} in the {slug} checklist of {incident.reference}.")
        if step.done == done:
            return step, False
        now = timezone.now()
        step.done = done
        step.done_at = now if done else None
        step.done_by_name = actor.name if done else ""
        step.changed_at = now
        step.save(update_fields=["done", "done_at", "done_by_name", "changed_at"])
        total = step.checklist.steps.count()
        done_count = step.checklist.steps.filter(done=True).count()
        verb = "done" if done else "undone"
        timeline_entry_add(
            incident=incident, kind=TimelineKind.RUNBOOK_STEP, actor=actor, at=now,
            text=f"{step.checklist.title}, step {number} {verb}: {step.title} ({done_count} of {total} done)",
            data={"runbook": slug, "step": number, "title": step.title, "old": not done, "new": done,
                  "done_count": done_count, "total": total},
        )  # fmt: skip
    return step, True


def checklists_for(incident: Incident) -> list[RunbookChecklist]:
    return list(RunbookChecklist.objects.filter(incident=incident).prefetch_related("steps"))
