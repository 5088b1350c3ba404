"""The incident state machine: the one place where an incident's status changes.

detected → acknowledged → diagnosing → mitigated → resolved → reviewed.
Forward moves may skip states (an alert that clears itself goes straight from
detected to resolved); a resolved incident may reopen to acknowledged; nothing
leaves reviewed, and reviewed is reached only by approving the report.
"""

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from incidents import events
from incidents.actors import Actor
from incidents.errors import DomainConflict, DomainInputError
from incidents.models import Incident, Resolution, Status, TimelineKind
from incidents.timeline import note_clean, note_problem, timeline_entry_add

logger = logging.getLogger(__name__)

ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Status.DETECTED: frozenset({Status.ACKNOWLEDGED, Status.DIAGNOSING, Status.MITIGATED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.DIAGNOSING, Status.MITIGATED, Status.RESOLVED}),
    Status.DIAGNOSING: frozenset({Status.MITIGATED, Status.RESOLVED}),
    Status.MITIGATED: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.ACKNOWLEDGED, Status.REVIEWED}),
    Status.REVIEWED: frozenset(),
}

TIMESTAMP_FIELD = {
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.DIAGNOSING: "diagnosing_at",
    Status.MITIGATED: "mitigated_at",
    Status.RESOLVED: "resolved_at",
    Status.REVIEWED: "reviewed_at",
}

# Moves a person must explain, so the timeline (and the report's Resolution) tells the story.
MOVES_NEEDING_NOTE = {Status.MITIGATED: "Say what mitigated it.", Status.RESOLVED: "Say how it was resolved."}

# Resolutions a person picks. auto_resolved belongs to alert intake: it does not count as an
# acknowledgement, so a person choosing it would skip their own.
PERSON_RESOLUTIONS = (Resolution.FIXED, Resolution.FALSE_ALARM, Resolution.DUPLICATE)
AUTO_RESOLVED_BY_PERSON = (
    "auto_resolved is for alerts that clear themselves; resolve as fixed, false_alarm or duplicate."
)

# Hooks run after commit of a move, e.g. drafting a report on resolution. Registered in the
# AppConfig.ready() of the app that owns the follow-up; each gets (incident_id, old, new, resolution).
_follow_ups: list[Callable[[int, str, str, str], None]] = []


def on_transition(hook: Callable[[int, str, str, str], None]) -> Callable[[int, str, str, str], None]:
    if hook not in _follow_ups:
        _follow_ups.append(hook)
    return hook


class TransitionError(DomainConflict):
    """A move that cannot happen now: illegal from the current state, or lost to a concurrent move."""


class TransitionInputError(DomainInputError):
    """A move with bad arguments (unknown state, missing note or duplicate_of, …). Field errors by name."""


def allowed_moves(status: str) -> list[str]:
    """Moves a person can make from ``status``, in lifecycle order (report approval excluded)."""
    order = list(Status.values)
    return sorted((s for s in ALLOWED_MOVES[status] if s != Status.REVIEWED), key=order.index)


def _validate_input(
    *, to: str, actor: Actor, note: str, resolution: str | None, duplicate_of_id: int | None, incident_id: int
) -> str:
    if to not in Status.values:
        raise TransitionInputError({"to": [f'"{to}" is not a state. Choose one of: {", ".join(Status.values)}.']})
    problem = note_problem(note, required=MOVES_NEEDING_NOTE.get(to, "") if actor.is_person else "")
    if problem:
        raise TransitionInputError({"note": [problem]})
    if to != Status.RESOLVED:
        if resolution:
            raise TransitionInputError({"resolution": ["Only a move to resolved takes a resolution."]})
        return ""
    resolution = resolution or Resolution.FIXED
    choices = PERSON_RESOLUTIONS if actor.is_person else Resolution.values
    if resolution not in Resolution.values:
        raise TransitionInputError(
            {"resolution": [f'"{resolution}" is not a resolution. Choose one of: {", ".join(choices)}.']}
        )
    if resolution not in choices:
        raise TransitionInputError({"resolution": [AUTO_RESOLVED_BY_PERSON]})
    if resolution == Resolution.DUPLICATE:
        if duplicate_of_id is None:
            raise TransitionInputError({"duplicate_of": ["Name the incident this one duplicates."]})
        if duplicate_of_id == incident_id:
            raise TransitionInputError({"duplicate_of": ["An incident cannot duplicate itself."]})
        if not Incident.objects.filter(pk=duplicate_of_id).exists():
            raise TransitionInputError({"duplicate_of": [f"Incident {duplicate_of_id} does not exist."]})
    elif duplicate_of_id is not None:
        raise TransitionInputError({"duplicate_of": ["Only a duplicate resolution names another incident."]})
    return resolution


def transition(
    incident: Incident,
    to: str,
    *,
    actor: Actor,
    note: str = "",
    resolution: str | None = None,
    duplicate_of_id: int | None = None,
    expected_status: str | None = None,
    via_report_approval: bool = False,
) -> Incident:
    """Move ``incident`` to ``to``. Returns the incident as stored after the move.

    Locks the row, so of two people acknowledging at once one wins and the
    other gets a TransitionError (409), and the timeline gets one entry.
    ``expected_status`` lets a client say which state it saw: if the incident
    moved since, the move is refused rather than applied to a state the
    person never saw.

    The input rules are here and nowhere else (the API and the browser only
    translate a TransitionInputError into a 400): a person mitigating or
    resolving says what was done, no one resolves as auto_resolved but alert
    intake, and a note keeps to NOTE_MAX_LENGTH.
    """
    note = note_clean(note)
    resolution = _validate_input(
        to=to, actor=actor, note=note, resolution=resolution, duplicate_of_id=duplicate_of_id, incident_id=incident.pk
    )
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        old = locked.status
        if expected_status and expected_status != old:
            raise TransitionError(f"{locked.reference} is already {old}; someone else moved it.", status=old)
        if to not in ALLOWED_MOVES[old]:
            if to == old:
                detail = f"{locked.reference} is already {old}."
            else:
                detail = f"{locked.reference} cannot move from {old} to {to}."
            raise TransitionError(detail, status=old)
        if to == Status.REVIEWED and not via_report_approval:
            raise TransitionError(
                f"{locked.reference} becomes reviewed when its post-incident report is approved.", status=old
            )

        now = timezone.now()
        data: dict = {"old": old, "new": to}
        update_fields = ["status", "updated_at"]
        locked.status = to
        is_auto_resolve = resolution == Resolution.AUTO_RESOLVED
        if locked.acknowledged_at is None and actor.is_person and not is_auto_resolve:
            # A person's first move (out of detected, or reopening an auto-resolved
            # incident) is the acknowledgement.
            locked.acknowledged_at = now
            locked.acknowledged_by = actor.user
            update_fields += ["acknowledged_at", "acknowledged_by"]
            data["acknowledged_by"] = actor.name
            if locked.commander_id is None:
                locked.commander = actor.user
                update_fields.append("commander")
                data["commander"] = actor.name

        # acknowledged_at records the first acknowledgement (MTTA); a reopen keeps it.
        if to in TIMESTAMP_FIELD and not (to == Status.ACKNOWLEDGED and locked.acknowledged_at):
            setattr(locked, TIMESTAMP_FIELD[to], now)
            update_fields.append(TIMESTAMP_FIELD[to])

        if to == Status.RESOLVED:
            locked.resolution = resolution
            locked.duplicate_of_id = duplicate_of_id
            update_fields += ["resolution", "duplicate_of"]
            data["resolution"] = resolution
            if duplicate_of_id:
                data["duplicate_of"] = duplicate_of_id
        if old == Status.RESOLVED and to == Status.ACKNOWLEDGED:
            data["reopened"] = True
            data["previous_resolution"] = locked.resolution
            locked.resolution = ""
            locked.duplicate_of = None
            locked.resolved_at = None
            update_fields += ["resolution", "duplicate_of", "resolved_at"]
        if note:
            data["note"] = note

        locked.save(update_fields=sorted(set(update_fields)))
        timeline_entry_add(
            incident=locked,
            kind=TimelineKind.STATUS_CHANGED,
            actor=actor,
            text=_describe(old, to, resolution=resolution, note=note, reopened=data.get("reopened", False)),
            data=data,
            at=now,
        )
        events.event_emit(
            incident=locked,
            kind="status_changed",
            data={"old": old, "new": to, "reopened": data.get("reopened", False), "actor": actor.name},
        )
        transaction.on_commit(lambda: _after_commit(locked.pk, old, to, resolution))
    return locked


def _describe(old: str, new: str, *, resolution: str, note: str, reopened: bool) -> str:
    if reopened:
        text = "Reopened"
    elif new == Status.RESOLVED:
        text = f"Resolved ({Resolution(resolution).label.lower()})"
    else:
        text = f"{Status(new).label} (was {old})"
    return f"{text}: {note}" if note else text


def _after_commit(incident_id: int, old: str, new: str, resolution: str) -> None:
    from incidents import metrics

    metrics.TRANSITIONS.labels(to=new).inc()
    for hook in _follow_ups:
        # The move is committed: a failing follow-up is logged, never turned into an error for the mover.
        try:
            hook(incident_id, old, new, resolution)
        except Exception:
            logger.exception("follow-up %s of incident %s (%s → %s) failed", hook.__name__, incident_id, old, new)
