"""Storing an incident's likely causes: recompute from its findings, announce a new top on the timeline.

``hypotheses_recompute`` runs in the worker (the task ``diagnostics.tasks.recompute_hypotheses``,
queued when a run reaches the timeline), never in a request. It locks the incident's row of
``IncidentHypotheses`` first and reads the runs after, so two runs finishing at once compute one
after the other and the later computation sees both. A timeline entry is written only when the
top hypothesis (the first one at or above ``ANNOUNCE``) is a different one than last announced.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from diagnostics.analysis import FindingRef, hypotheses_for
from diagnostics.models import FINISHED_RUN_STATUSES, DiagnosticRun, IncidentHypotheses
from incidents.actors import Actor
from incidents.models import Incident, TimelineKind
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

ANNOUNCE = 0.3  # below this a hypothesis is listed, never announced or offered as the root cause
ACTOR = Actor.system("Likely causes")
WORDS = ((0.8, "very likely"), (0.6, "likely"), (0.4, "possible"), (0.0, "unlikely"))


def confidence_words(confidence: float) -> str:
    return next(words for floor, words in WORDS if confidence >= floor)


def incident_findings(incident_id: int) -> list[FindingRef]:
    runs = DiagnosticRun.objects.filter(incident_id=incident_id, status__in=FINISHED_RUN_STATUSES).only(
        "pk", "collector", "target_name", "finished_at", "findings"
    )
    return [
        FindingRef.of(finding, run=run.pk, collector=run.collector, target=run.target_name, at=run.finished_at)
        for run in runs
        for finding in run.findings or []
        if isinstance(finding, dict)
    ]


def top_of(hypotheses: list[dict]) -> dict | None:
    return next((h for h in hypotheses if h.get("confidence", 0) >= ANNOUNCE), None)


def _row_locked(incident_id: int) -> IncidentHypotheses:
    try:
        with transaction.atomic():
            IncidentHypotheses.objects.get_or_create(incident_id=incident_id)
    except IntegrityError:
        pass  # created concurrently: lock the existing row
    return IncidentHypotheses.objects.select_for_update().get(incident_id=incident_id)


def hypotheses_recompute(*, incident_id: int, now=None) -> IncidentHypotheses | None:
    """Recompute and store the incident's hypotheses; a timeline entry if the top one changed."""
    now = now or timezone.now()
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return None
    with transaction.atomic():
        row = _row_locked(incident_id)
        found = [h.to_dict() for h in hypotheses_for(incident_findings(incident_id))]
        previous_key = row.top_key
        top = top_of(found)
        row.hypotheses = found
        row.computed_at = now
        row.top_key = top["key"] if top else ""
        row.save()
        if (top["key"] if top else "") != previous_key:
            _announce(incident, top, previous_key, now)
    return row


def _announce(incident: Incident, top: dict | None, previous_key: str, now) -> None:
    if top is None:
        text = "Likely cause withdrawn: the latest findings no longer support it"
    else:
        text = f"Likely cause ({confidence_words(top['confidence'])}, {top['confidence']:.0%}): {top['title']}"
    data = {"hypothesis": top, "old": previous_key or None, "new": top["key"] if top else None}
    timeline_entry_add(incident=incident, kind=TimelineKind.HYPOTHESIS, actor=ACTOR, text=text, data=data, at=now)


def hypotheses_get(incident: Incident) -> dict:
    """What the API and the page show: ``{computed_at, hypotheses}`` (an empty list before the first run)."""
    row = IncidentHypotheses.objects.filter(incident=incident).first()
    if row is None:
        return {"computed_at": None, "hypotheses": []}
    return {"computed_at": row.computed_at, "hypotheses": row.hypotheses}


def hypotheses_enqueue(*, incident_id: int) -> None:
    """Queue a recompute for the worker; a broker failure is logged, the next finished run tries again."""
    from diagnostics.tasks import recompute_hypotheses

    try:
        recompute_hypotheses.apply_async(args=[incident_id], queue="diagnostics")
    except Exception:
        logger.exception("could not queue the hypotheses of incident %s", incident_id)
