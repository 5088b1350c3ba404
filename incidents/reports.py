"""Post-incident reports: drafted from the incident, edited with version checks, reviewed by a manager.

draft → in_review → approved (manager), or in_review → changes_requested →
in_review …; approval moves the incident to ``reviewed`` in the same
transaction. Every step is on the incident's timeline.

Drafting happens off the request path: resolving as fixed queues the
``incidents.tasks.draft_report`` task after the move commits. The draft asks
the registered contributors first (diagnostics adds its strongest findings
and the impact measured in Prometheus), with no transaction open and no lock
held, then writes the report in one short transaction. Contributors register
with ``on_draft()`` in their app's ``AppConfig.ready()``: this app imports none.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.errors import DomainConflict, DomainForbidden, DomainInputError
from incidents.models import (
    REPORT_SECTION_MAX_LENGTH,
    ActionItemStatus,
    Incident,
    Report,
    ReportStatus,
    Resolution,
    Severity,
    Status,
    TimelineEntry,
    TimelineKind,
)
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("title", "summary", "root_cause", "impact", "resolution", "lessons_learned")
EDITABLE_STATUSES = (ReportStatus.DRAFT, ReportStatus.CHANGES_REQUESTED)
TO_FILL = "_to fill_"
CUT_NOTE = "\n\n_Cut to the section limit: the rest is on the incident's timeline._"
# How long a draft may take before the page offers to draft it by hand (a worker down, a broker lost).
DRAFT_PATIENCE = timedelta(minutes=2)

# Timeline kinds that make the report's timeline by default; notes and the rest only when pinned.
DEFAULT_TIMELINE_KINDS = (
    TimelineKind.CREATED,
    TimelineKind.STATUS_CHANGED,
    TimelineKind.SEVERITY_CHANGED,
    TimelineKind.SLA_BREACHED,
    TimelineKind.MITIGATION,
    TimelineKind.DIAGNOSTIC,
    TimelineKind.HYPOTHESIS,
    TimelineKind.RUNBOOK_STEP,
    TimelineKind.ALERT_RESOLVED,
)


class ReportConflict(DomainConflict):
    """A step out of order, a save against a version someone else already replaced, or a draft that
    cannot be made (one exists, the incident is not resolved): a 409."""

    def __init__(self, detail: str, *, status: str, version: int | None = None):
        super().__init__(detail, status=status)
        self.version = version

    def body(self) -> dict:
        return {**super().body(), "version": self.version}


def report_needed(incident: Incident) -> bool:
    return incident.resolution == Resolution.FIXED and incident.severity in settings.REPORT_SEVERITIES


# Drafting -----------------------------------------------------------------------


@dataclass(frozen=True)
class DraftContribution:
    """What another app adds to a report being drafted, in Markdown."""

    root_cause: str = ""  # a block offered as the root cause, to confirm or replace
    impact_lines: tuple[str, ...] = ()  # "- …" lines for the Impact section
    impact_data: dict = field(default_factory=dict)  # figures measured; non-empty means the impact was measured


_contributors: list[Callable[[Incident], DraftContribution | None]] = []


def on_draft(contributor: Callable[[Incident], DraftContribution | None]) -> Callable:
    """Register a contributor. It is called with the incident, outside any transaction and with no lock held,
    so it may ask the network; it must bound its own time. A failing contributor is logged and left out."""
    if contributor not in _contributors:
        _contributors.append(contributor)
    return contributor


def report_drafting(incident: Incident, report: Report | None) -> bool:
    """True while the report of a resolved, fixed incident is on its way (queued or being drafted)."""
    return report is None and incident.status == Status.RESOLVED and report_needed(incident)


def report_draft_overdue(incident: Incident) -> bool:
    """A draft still missing well after resolution: the page then offers to draft it by hand."""
    return incident.resolved_at is not None and timezone.now() - incident.resolved_at > DRAFT_PATIENCE


def _draft_refusal(incident: Incident, *, exists: bool) -> str:
    """Why a person cannot draft this incident's report now, or "". The one place these rules live."""
    if exists:
        return f"{incident.reference} already has a report."
    if incident.status != Status.RESOLVED:
        status = incident.get_status_display().lower()
        return f"{incident.reference} is {status}: only a resolved incident gets a report."
    return ""


def report_draft_create(*, incident_id: int, force: bool = False) -> Report | None:
    """Draft the report of a resolved, fixed incident (what the ``draft_report`` task runs).

    Idempotent, as a task redelivered after a lost worker must be: an existing report is
    returned as it is. ``force`` drafts one for an incident that would not get one on its own
    (a P3, a false alarm). Returns None when the incident needs no report (or no longer: it
    was reopened meanwhile, or is gone).
    """
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or not (force or report_needed(incident)):
        return None
    existing = Report.objects.filter(incident_id=incident_id).first()
    if existing is not None:
        return existing
    return _draft(incident, contributions=_contributions(incident), force=force, actor=Actor.system("Report drafter"))


def report_draft_request(*, incident_id: int, actor: Actor) -> Report:
    """A person drafts the report of a resolved incident that has none (a P3, a false alarm, a draft gone missing).

    Refused with ReportConflict (409) when the incident already has a report or is not resolved.
    """
    incident = Incident.objects.get(pk=incident_id)
    refusal = _draft_refusal(incident, exists=Report.objects.filter(incident_id=incident_id).exists())
    if refusal:
        raise ReportConflict(refusal, status=incident.status)
    return _draft(incident, contributions=_contributions(incident), force=True, actor=actor, by_hand=True)


def _contributions(incident: Incident) -> list[DraftContribution]:
    contributions = []
    for contributor in _contributors:
        try:
            contribution = contributor(incident)
        except Exception:
            logger.exception("report contributor %s failed for %s", contributor.__name__, incident.reference)
            continue
        if contribution is not None:
            contributions.append(contribution)
    return contributions


def _draft(
    incident: Incident, *, contributions: list[DraftContribution], force: bool, actor: Actor, by_hand: bool = False
) -> Report | None:
    """Write the draft in one short transaction, checking again under the incident's lock what was read before."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        existing = Report.objects.filter(incident=locked).first()
        if by_hand:
            refusal = _draft_refusal(locked, exists=existing is not None)
            if refusal:
                raise ReportConflict(refusal, status=locked.status)
        elif existing is not None:
            return existing
        elif not (force or report_needed(locked)) or locked.resolved_at != incident.resolved_at:
            # Reopened (and maybe resolved again, which queued its own draft) since the figures were measured.
            return None
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    incident=locked, title=locked.title[:200], **_draft_sections(locked, contributions)
                )
        except IntegrityError:
            # SQLite has no row locks: another drafter got there first. Theirs is the report.
            if by_hand:
                raise ReportConflict(f"{locked.reference} already has a report.", status=locked.status)
            return Report.objects.get(incident=locked)
        timeline_entry_add(
            incident=locked,
            kind=TimelineKind.REPORT,
            actor=actor,
            text="Post-incident report drafted",
            data={"report": report.pk, "status": report.status},
        )
    return report


def report_draft_enqueue(incident_id: int, old: str, new: str, resolution: str) -> None:
    """After a move commits (a lifecycle follow-up): queue the draft of an incident resolved as fixed."""
    if new == Status.RESOLVED and resolution == Resolution.FIXED:
        from incidents.tasks import draft_report

        draft_report.delay(incident_id)


def incidents_awaiting_report(*, now=None, window: timedelta = timedelta(days=1), limit: int = 100) -> list[int]:
    """Ids of recently resolved incidents whose report should exist by now but does not (a lost task)."""
    now = now or timezone.now()
    return list(
        Incident.objects.filter(
            status=Status.RESOLVED,
            resolution=Resolution.FIXED,
            severity__in=settings.REPORT_SEVERITIES,
            resolved_at__gte=now - window,
            resolved_at__lt=now - DRAFT_PATIENCE,
            report__isnull=True,
        )
        .order_by("resolved_at")
        .values_list("pk", flat=True)[:limit]
    )


def human_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "ongoing"
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not parts:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def time_in_states(incident: Incident) -> list[tuple[str, timedelta]]:
    """How long the incident spent in each state it went through, in order."""
    marks = [
        ("detected", incident.detected_at),
        ("acknowledged", incident.acknowledged_at),
        ("diagnosing", incident.diagnosing_at),
        ("mitigated", incident.mitigated_at),
        ("resolved", incident.resolved_at),
    ]
    present = [(name, at) for name, at in marks if at is not None]
    present.sort(key=lambda item: item[1])
    spans = []
    for (name, start), (_, end) in zip(present, present[1:], strict=False):
        spans.append((name, end - start))
    return spans


def _draft_sections(incident: Incident, contributions: list[DraftContribution]) -> dict:
    services = ", ".join(incident.services.order_by("slug").values_list("slug", flat=True)) or "no service recorded"
    duration = human_duration((incident.resolved_at - incident.detected_at) if incident.resolved_at else None)
    acknowledged = ""
    if incident.acknowledged_at:
        who = incident.acknowledged_by.get_username() if incident.acknowledged_by else "the on-call engineer"
        acknowledged = (
            f" {who} acknowledged it after {human_duration(incident.acknowledged_at - incident.detected_at)}."
        )
    summary = (
        f"{incident.severity} incident on {services}: {incident.title}. Detected "
        f"{incident.detected_at:%Y-%m-%d %H:%M} UTC.{acknowledged} Resolved after {duration}."
    )

    root_cause = "\n\n".join(c.root_cause for c in contributions if c.root_cause) or TO_FILL

    states = time_in_states(incident)
    impact_lines = [line for c in contributions for line in c.impact_lines]
    impact_data: dict = {}
    for contribution in contributions:
        impact_data.update(contribution.impact_data)
    if impact_data:
        impact_lines += ["- Data loss: " + TO_FILL]
    else:
        impact_lines += [
            "- Requests failed: " + TO_FILL,
            "- Error rate (peak / average): " + TO_FILL,
            "- Response time before vs during: " + TO_FILL,
            "- Data loss: " + TO_FILL,
        ]
    # Spans, named as spans: "Time detected" would read as the moment of detection.
    ends = [name for name, _ in states[1:]] + ["resolved"]
    impact_lines += [
        f"- Time spent {name}, until {end}: {human_duration(span)}"
        for (name, span), end in zip(states, ends, strict=True)
    ]
    resolution_notes = [
        entry.data.get("note")
        for entry in incident.timeline.filter(kind=TimelineKind.STATUS_CHANGED).order_by("created_at", "id")
        if entry.data.get("note") and entry.data.get("new") in (Status.MITIGATED, Status.RESOLVED)
    ]
    mitigations = list(
        incident.timeline.filter(kind=TimelineKind.MITIGATION)
        .order_by("created_at", "id")
        .values_list("text", flat=True)
    )
    steps = resolution_notes + mitigations
    resolution = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1)) if steps else TO_FILL
    return {
        "summary": _fit_section(summary),
        "root_cause": _fit_section(root_cause),
        "impact": _fit_section("\n".join(impact_lines)),
        "resolution": _fit_section(resolution),
        "lessons_learned": "- " + TO_FILL,
        "impact_data": {"time_in_states": {name: span.total_seconds() for name, span in states}, **impact_data},
    }


def _fit_section(text: str) -> str:
    """A drafted section stays within what the editor accepts: a long one is cut at a line break, and says so."""
    if len(text) <= REPORT_SECTION_MAX_LENGTH:
        return text
    head = text[: REPORT_SECTION_MAX_LENGTH - len(CUT_NOTE)]
    line_end = head.rfind("\n")
    return (head[:line_end] if line_end > 0 else head) + CUT_NOTE


# Editing and review ---------------------------------------------------------------


def report_guard_editable(report: Report) -> None:
    """Refuse (ReportConflict, 409) edits to a report in review or approved."""
    if report.status not in EDITABLE_STATUSES:
        raise ReportConflict(
            f"The report is {report.get_status_display().lower()}; it can be edited as a draft or after "
            "changes are requested.",
            status=report.status,
            version=report.version,
        )


def report_update(*, report: Report, actor: Actor, version: int, changes: dict) -> Report:
    """Save edits made against ``version``; a stale version is refused, never overwritten."""
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        report_guard_editable(locked)
        if version != locked.version:
            raise ReportConflict(
                f"Someone saved this report since you opened it (version {locked.version}, yours {version}). "
                "Reload, then apply your changes again.",
                status=locked.status,
                version=locked.version,
            )
        changed = []
        for name in EDITABLE_FIELDS:
            if name in changes and changes[name] != getattr(locked, name):
                setattr(locked, name, changes[name])
                changed.append(name)
        for name in ("pinned_entries", "hidden_entries"):
            if name in changes:
                ids = sorted(set(changes[name]))
                if ids != sorted(getattr(locked, name)):
                    setattr(locked, name, ids)
                    changed.append(name)
        if changed:
            locked.version += 1
            locked.updated_by = actor.user
            locked.save()
    return locked


def _step(report: Report, *, allowed_from: tuple[str, ...], to: str, what: str) -> Report:
    locked = Report.objects.select_for_update().select_related("incident").get(pk=report.pk)
    if locked.status not in allowed_from:
        raise ReportConflict(
            f"Cannot {what} a report that is {locked.get_status_display().lower()}.", status=locked.status
        )
    locked.status = to
    return locked


def report_submit(*, report: Report, actor: Actor) -> Report:
    with transaction.atomic():
        locked = _step(report, allowed_from=EDITABLE_STATUSES, to=ReportStatus.IN_REVIEW, what="submit")
        locked.submitted_at, locked.submitted_by = timezone.now(), actor.user
        locked.version += 1
        locked.save()
        timeline_entry_add(
            incident=locked.incident,
            kind=TimelineKind.REPORT,
            actor=actor,
            text="Report submitted for review",
            data={"report": locked.pk, "status": locked.status},
        )
    return locked


def report_request_changes(*, report: Report, actor: Actor, comment: str) -> Report:
    """Send a report in review back to its authors, saying what should change (a blank comment is refused)."""
    comment = comment.strip()
    if not comment:
        raise DomainInputError({"comment": ["Say what should change."]})
    with transaction.atomic():
        locked = _step(
            report, allowed_from=(ReportStatus.IN_REVIEW,), to=ReportStatus.CHANGES_REQUESTED, what="request changes on"
        )
        locked.review_comment = comment
        locked.version += 1
        locked.save()
        timeline_entry_add(
            incident=locked.incident,
            kind=TimelineKind.REPORT,
            actor=actor,
            text=f"Changes requested on the report: {comment}",
            data={"report": locked.pk, "status": locked.status, "comment": comment},
        )
    return locked


def report_approve(*, report: Report, actor: Actor) -> Report:
    """Approve and move the incident to reviewed, together or not at all.

    A second pair of eyes: the manager who submitted the report may not approve it, unless
    ``REPORT_SELF_APPROVAL`` is on (a one-person team).
    """
    with transaction.atomic():
        locked = _step(report, allowed_from=(ReportStatus.IN_REVIEW,), to=ReportStatus.APPROVED, what="approve")
        if (
            not settings.REPORT_SELF_APPROVAL
            and actor.user is not None
            and locked.submitted_by_id is not None
            and locked.submitted_by_id == actor.user.pk
        ):
            raise DomainForbidden(
                "You submitted this report: another manager approves it (a second pair of eyes). "
                "One-person teams set REPORT_SELF_APPROVAL=1.",
                status=ReportStatus.IN_REVIEW,
            )
        locked.approved_at, locked.approved_by = timezone.now(), actor.user
        locked.version += 1
        locked.save()
        timeline_entry_add(
            incident=locked.incident,
            kind=TimelineKind.REPORT,
            actor=actor,
            text="Report approved",
            data={"report": locked.pk, "status": locked.status},
        )
        lifecycle.transition(
            locked.incident,
            Status.REVIEWED,
            actor=actor,
            note="post-incident report approved",
            via_report_approval=True,
        )
    return locked


# Rendering ----------------------------------------------------------------------------


def report_timeline(report: Report) -> list[TimelineEntry]:
    hidden = set(report.hidden_entries)
    pinned = set(report.pinned_entries)
    entries = report.incident.timeline.order_by("created_at", "id")
    return [
        e
        for e in entries
        if e.pk not in hidden and (e.pk in pinned or (e.kind in DEFAULT_TIMELINE_KINDS and _worth_reporting(e)))
    ]


def _worth_reporting(entry: TimelineEntry) -> bool:
    if entry.kind == TimelineKind.DIAGNOSTIC:
        return entry.data.get("worst") in ("crit", "warn")
    return True


def timeline_text(entry: TimelineEntry) -> str:
    data = entry.data or {}
    if entry.kind == TimelineKind.CREATED:
        return f"Detected: {entry.incident.title}" if entry.actor_kind != "user" else f"Reported by {entry.actor_name}"
    if entry.kind == TimelineKind.STATUS_CHANGED:
        new = data.get("new")
        note = f" ({data['note']})" if data.get("note") else ""
        if data.get("reopened"):
            return f"Reopened by {entry.actor_name}{note}"
        if new == Status.ACKNOWLEDGED:
            return f"{entry.actor_name} acknowledged{note}"
        if new == Status.DIAGNOSING:
            return f"Diagnosis started by {entry.actor_name}{note}"
        if new == Status.MITIGATED:
            return f"Mitigated{note}"
        if new == Status.RESOLVED:
            return f"Resolved ({data.get('resolution', 'fixed').replace('_', ' ')}){note}"
        if new == Status.REVIEWED:
            return "Post-incident review approved"
    return entry.text


def severity_label(severity: str) -> str:
    return f"{severity} ({Severity(severity).label.split('–')[-1].strip()})"


def report_markdown(report: Report) -> str:
    """The report in the incident report template's Markdown layout."""
    incident = report.incident
    duration = human_duration((incident.resolved_at - incident.detected_at) if incident.resolved_at else None)
    services = ", ".join(incident.services.order_by("slug").values_list("slug", flat=True)) or "none recorded"
    lines = [
        f"# Incident Report: {report.title}",
        "",
        f"**Date**: {incident.detected_at:%Y-%m-%d}",
        f"**Duration**: {duration}",
        f"**Severity**: {severity_label(incident.severity)}",
        f"**Services Affected**: {services}",
        "",
        "## Summary",
        report.summary.strip() or TO_FILL,
        "",
        "## Timeline",
    ]
    lines += [f"- {entry.created_at:%H:%M} - {timeline_text(entry)}" for entry in report_timeline(report)]
    lines += [
        "",
        "## Root Cause",
        report.root_cause.strip() or TO_FILL,
        "",
        "## Impact",
        report.impact.strip() or TO_FILL,
    ]
    lines += ["", "## Resolution", report.resolution.strip() or TO_FILL, "", "## Action Items"]
    items = incident.action_items.select_related("owner").order_by("id")
    if items:
        for item in items:
            box = "x" if item.status == ActionItemStatus.DONE else " "
            extras = [part for part in (
                f"@{item.owner.get_username()}" if item.owner else "",
                f"due {item.due_date:%Y-%m-%d}" if item.due_date else "",
                "won't do" if item.status == ActionItemStatus.WONT_DO else "",
            ) if part]  # fmt: skip
            lines.append(f"- [{box}] {item.title}" + (f" ({', '.join(extras)})" if extras else ""))
    else:
        lines.append("- [ ] " + TO_FILL)
    lines += ["", "## Lessons Learned", report.lessons_learned.strip() or TO_FILL, ""]
    return "\n".join(lines)
