"""Writes on incidents other than status moves (those live in lifecycle.py)."""

from collections.abc import Callable
from datetime import datetime

from django.db import connections, router, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone

from incidents import events, scoping, sla
from incidents.actors import Actor
from incidents.errors import DomainConflict, DomainInputError
from incidents.models import Incident, Service, Source, Status, TimelineEntry, TimelineKind
from incidents.timeline import NOTE_BLANK, note_clean, note_problem, timeline_entry_add, timeline_entry_new

# Follow-ups of new incidents and newly affected services (e.g. running diagnostics),
# registered in the AppConfig.ready() of the apps that own them and run after commit
# with (incident_id, [service ids]). A rolled-back incident runs nothing.
_created_hooks: list[Callable[[int, list[int]], None]] = []
_services_added_hooks: list[Callable[[int, list[int]], None]] = []


def on_incident_created(hook: Callable[[int, list[int]], None]) -> Callable[[int, list[int]], None]:
    if hook not in _created_hooks:
        _created_hooks.append(hook)
    return hook


def on_services_added(hook: Callable[[int, list[int]], None]) -> Callable[[int, list[int]], None]:
    if hook not in _services_added_hooks:
        _services_added_hooks.append(hook)
    return hook


def _run_hooks(hooks, incident_id: int, service_ids: list[int]) -> None:
    for hook in hooks:
        hook(incident_id, service_ids)


class IncidentLockedError(DomainConflict):
    """The incident is reviewed: its record is closed to edits."""


def incident_is_frozen(incident: Incident) -> bool:
    """A reviewed incident's record is closed: no edits, notes, diagnostics or mitigations (action items go on)."""
    return incident.status == Status.REVIEWED


def incident_guard_frozen(incident: Incident) -> None:
    """Refuse any change to a reviewed incident's record (IncidentLockedError, a 409)."""
    if incident_is_frozen(incident):
        raise IncidentLockedError(f"{incident.reference} is reviewed; its record is closed.", status=incident.status)


def incident_create(
    *,
    title: str,
    severity: str,
    actor: Actor,
    description: str = "",
    services: list[Service] | None = None,
    detected_at: datetime | None = None,
    source: str = Source.MANUAL,
    dedup_key: str = "",
    alert_fields: dict | None = None,
    timeline_data: dict | None = None,
    unless_key_open: bool = False,
    more_entries: list[TimelineEntry] | None = None,
) -> Incident | None:
    """File an incident in ``detected`` with its SLA deadline and its first timeline entry.

    ``alert_fields`` carries what alert intake knows (integration, alert_starts_at,
    last_seen_at, occurrences, previous_incident, unrouted); ``timeline_data`` is
    merged into the creation entry's data; ``more_entries`` (unsaved, without an
    incident) are written with it in one statement.

    ``unless_key_open``: one ``INSERT … ON CONFLICT DO NOTHING`` on the partial
    unique constraint (one open incident per alert key) decides; when the key
    already has an open incident nothing is written and None is returned, with no
    savepoint and no aborted transaction.
    """
    if actor.user is not None and (problem := scoping.services_check(actor.user, services or [])):
        raise DomainInputError({"services": [problem]})
    detected_at = detected_at or timezone.now()
    # No savepoint of its own: inside a caller's transaction, a failure here fails the caller's.
    with transaction.atomic(savepoint=False):
        incident = Incident(
            title=title,
            description=description,
            severity=severity,
            status=Status.DETECTED,
            detected_at=detected_at,
            ack_due_at=sla.ack_due_at(detected_at=detected_at, severity=severity),
            source=source,
            dedup_key=dedup_key,
            created_by=actor.user,
            **(alert_fields or {}),
        )
        if unless_key_open:
            if not _insert_unless_conflict(incident):
                return None
        else:
            incident.save(force_insert=True)
        if services:
            incident.services.add(*services)  # a new incident has none: no need to diff like set()
        created = timeline_entry_new(
            incident=incident,
            kind=TimelineKind.CREATED,
            at=timezone.now(),
            actor=actor,
            text=f"Incident filed as {severity}: {title}",
            data={
                "severity": severity,
                "services": sorted(s.slug for s in services or []),
                "source": source,
                "ack_due_at": incident.ack_due_at.isoformat(),
                **(timeline_data or {}),
            },
        )
        for entry in more_entries or []:
            entry.incident = incident
            entry.created_at = entry.created_at or created.created_at  # same moment, after the creation entry
        TimelineEntry.objects.bulk_create([created, *(more_entries or [])])
        events.event_emit(incident=incident, kind="opened")
        service_ids = [s.pk for s in services or []]
        transaction.on_commit(lambda: _run_hooks(_created_hooks, incident.pk, service_ids))
    return incident


def _insert_unless_conflict(incident: Incident) -> bool:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: True (and the pk set) when the row was written."""
    meta = Incident._meta
    fields = [f for f in meta.concrete_fields if not f.generated and f is not meta.auto_field]
    query = InsertQuery(Incident, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [incident])
    compiler = query.get_compiler(using=router.db_for_write(Incident))
    compiler.returning_fields = [meta.pk]
    ((sql, params),) = compiler.as_sql()
    with connections[compiler.using].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    incident.pk = row[0]
    incident._state.adding = False
    incident._state.db = compiler.using
    return True


def incident_update(
    *,
    incident: Incident,
    actor: Actor,
    title: str | None = None,
    description: str | None = None,
    severity: str | None = None,
    commander=...,
    services: list[Service] | None = None,
    severity_reason: str = "",
    severity_evidence: list | None = None,
) -> Incident:
    """Edit an incident's fields, writing one timeline entry per kind of change.

    ``commander`` uses ``...`` for "not given" because ``None`` means "no commander".
    ``severity_reason`` and ``severity_evidence`` go into the severity change's entry (why it moved).
    """
    if services is not None and actor.user is not None and (problem := scoping.services_check(actor.user, services)):
        raise DomainInputError({"services": [problem]})
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        incident_guard_frozen(locked)
        now = timezone.now()
        fields: set[str] = set()

        details = {}
        if title is not None and title != locked.title:
            details["title"] = {"old": locked.title, "new": title}
            locked.title = title
            fields.add("title")
        if description is not None and description != locked.description:
            details["description"] = {"old": locked.description, "new": description}
            locked.description = description
            fields.add("description")
        if details:
            timeline_entry_add(
                incident=locked,
                kind=TimelineKind.DETAILS_CHANGED,
                actor=actor,
                text="Edited " + " and ".join(sorted(details)),
                data=details,
                at=now,
            )

        if severity is not None and severity != locked.severity:
            old_severity, old_due = locked.severity, locked.ack_due_at
            locked.severity = severity
            locked.ack_due_at = sla.ack_due_at(detected_at=locked.detected_at, severity=severity)
            fields |= {"severity", "ack_due_at"}
            timeline_entry_add(
                incident=locked,
                kind=TimelineKind.SEVERITY_CHANGED,
                actor=actor,
                text=f"Severity changed from {old_severity} to {severity}"
                + (f": {severity_reason}" if severity_reason else ""),
                data={
                    "old": old_severity,
                    "new": severity,
                    "old_ack_due_at": old_due.isoformat(),
                    "new_ack_due_at": locked.ack_due_at.isoformat(),
                    **({"reason": severity_reason} if severity_reason else {}),
                    **({"evidence": severity_evidence} if severity_evidence else {}),
                },
                at=now,
            )
            events.event_emit(incident=locked, kind="severity_changed", data={"old": old_severity, "new": severity})

        if commander is not ... and commander != locked.commander:
            old_name = locked.commander.get_username() if locked.commander else None
            new_name = commander.get_username() if commander else None
            locked.commander = commander
            fields.add("commander")
            timeline_entry_add(
                incident=locked,
                kind=TimelineKind.COMMANDER_CHANGED,
                actor=actor,
                text=f"{new_name} took command" if new_name else f"{old_name} is no longer commander",
                data={"old": old_name, "new": new_name},
                at=now,
            )

        if services is not None:
            old_slugs = sorted(locked.services.values_list("slug", flat=True))
            new_slugs = sorted({s.slug for s in services})
            if old_slugs != new_slugs:
                locked.services.set(services)
                added = sorted(set(new_slugs) - set(old_slugs))
                if added:
                    added_ids = [s.pk for s in services if s.slug in added]
                    transaction.on_commit(lambda: _run_hooks(_services_added_hooks, locked.pk, added_ids))
                removed = sorted(set(old_slugs) - set(new_slugs))
                parts = []
                if added:
                    parts.append("added " + ", ".join(added))
                if removed:
                    parts.append("removed " + ", ".join(removed))
                timeline_entry_add(
                    incident=locked,
                    kind=TimelineKind.SERVICES_CHANGED,
                    actor=actor,
                    text="Services " + "; ".join(parts),
                    data={"old": old_slugs, "new": new_slugs, "added": added, "removed": removed},
                    at=now,
                )
                fields.add("updated_at")

        if fields:
            fields.add("updated_at")
            locked.save(update_fields=sorted(fields))
    return locked


def note_add(*, incident: Incident, actor: Actor, text: str) -> TimelineEntry:
    """Add a note to the timeline: not blank, within NOTE_MAX_LENGTH, and not on a reviewed incident."""
    text = note_clean(text)
    problem = note_problem(text, required=NOTE_BLANK)
    if problem:
        raise DomainInputError({"text": [problem]})
    incident_guard_frozen(incident)
    return timeline_entry_add(incident=incident, kind=TimelineKind.NOTE, actor=actor, text=text)
