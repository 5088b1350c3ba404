"""Events API v2 (PagerDuty format): trigger, acknowledge and resolve by ``dedup_key``.

A trigger for a key with an open incident is another occurrence of it; a
trigger for a closed or unknown key opens an incident (linked to the previous
one of that key). Acknowledge moves a ``detected`` incident on; acknowledging
an acknowledged one is a no-op. Resolve resolves the open incident even when
people acknowledged it, as PagerDuty does: the sender says it is over.
Acknowledge and resolve for an unknown key are accepted and dropped.
"""

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from incidents import lifecycle
from incidents.actors import Actor
from incidents.intake.alertmanager import (
    AlertGroup,
    AlertIn,
    Outcome,
    ServiceIndex,
    alert_rows,
    apply_resolved,
    candidate_slugs,
    latest_incident,
    open_incident,
    services_for,
)
from incidents.intake.schema import EventV2, IntakeError, clean_json, error_lines
from incidents.models import AlertPayload, Incident, IncidentAlert, Integration, Source, Status, TimelineKind
from incidents.services import incident_create
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

EVENT_SEVERITIES = ("critical", "error", "warning", "info")
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass(frozen=True)
class EventIn:
    action: str
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: object = None
    links: list = field(default_factory=list)
    cleaned: int = 0


def event_parse(data) -> EventIn:
    """Validate an Events API v2 body (the caller has checked ``routing_key``)."""
    data, cleaned = clean_json(data)
    if not isinstance(data, dict):
        raise IntakeError(["Event object is invalid: the body must be a JSON object"])
    try:
        event = EventV2.model_validate(data)
    except ValidationError as exc:
        raise IntakeError(error_lines(exc, style="quoted")) from None
    fields: dict = {}
    if event.payload is not None and event.event_action == "trigger":
        payload = event.payload
        fields = {
            "summary": payload.summary,
            "source": payload.source,
            "severity": payload.severity,
            "timestamp": payload.timestamp,
            "component": payload.component,
            "group": payload.group,
            "event_class": payload.class_,
            "custom_details": payload.custom_details,
        }
    return EventIn(
        action=event.event_action,
        dedup_key=event.dedup_key or uuid.uuid4().hex,
        links=[link.model_dump() for link in event.links],
        cleaned=cleaned,
        **fields,
    )


def event_apply(*, integration: Integration, event: EventIn, payload: AlertPayload | None) -> Outcome:
    """Apply one event inside the caller's transaction (or its own)."""
    actor = Actor.integration(integration.name)
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        if event.action == "trigger":
            return _trigger(integration, event, payload, actor, now)
        incident = open_incident(integration, event.dedup_key)
        if incident is None:
            logger.info("events: %s for unknown or closed key %r dropped", event.action, event.dedup_key)
            return Outcome(event.dedup_key, "dropped", None)
        Incident.objects.filter(pk=incident.pk).update(last_seen_at=now)
        if event.action == "acknowledge":
            if incident.status != Status.DETECTED:
                return Outcome(event.dedup_key, "repeat", incident.pk)
            lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=actor, note="acknowledged by the sender")
            return Outcome(event.dedup_key, "acknowledged", incident.pk)
        return apply_resolved(integration, AlertGroup(key=event.dedup_key, alerts=[]), now, actor, explicit=True)


def _trigger(integration, event: EventIn, payload, actor, now) -> Outcome:
    starts = event.timestamp or now
    alert = AlertIn(
        fingerprint=event.dedup_key[:255],
        status="firing",
        labels={
            k: v
            for k, v in {
                "severity": event.severity,
                "source": event.source,
                "component": event.component,
                "group": event.group,
                "class": event.event_class,
                "service": event.component or event.source,
            }.items()
            if v
        },
        annotations={"summary": event.summary},
        starts_at=starts,
        ends_at=None,
        generator_url=next((link["href"] for link in event.links if link.get("href")), "")[:2000],
    )
    incident = open_incident(integration, event.dedup_key)
    if incident is not None:
        # Every trigger for an open key is a new occurrence (events have no startsAt identity).
        IncidentAlert.objects.filter(incident=incident, fingerprint=alert.fingerprint).update(last_seen_at=now)
        Incident.objects.filter(pk=incident.pk).update(occurrences=incident.occurrences + 1, last_seen_at=now)
        timeline_entry_add(
            incident=incident,
            kind=TimelineKind.ALERT_FIRED,
            actor=actor,
            text=f"Triggered again ({event.severity}): {event.summary}"[:2000],
            data={"payload": payload.pk if payload else None, "custom_details": event.custom_details},
            at=now,
        )
        return Outcome(event.dedup_key, "attached", incident.pk)
    group = AlertGroup(key=event.dedup_key, alerts=[alert], common_annotations={"summary": event.summary})
    known = ServiceIndex(candidate_slugs(integration, [group]))
    latest = latest_incident(integration, event.dedup_key)
    services = services_for(integration, [alert], known)
    incident = incident_create(
        title=event.summary[:200],
        severity=integration.severity_map.get(event.severity, integration.default_severity),
        description=_description(event),
        services=services,
        detected_at=min(starts, now),
        actor=actor,
        source=Source.EVENTS,
        dedup_key=event.dedup_key,
        alert_fields={
            "integration": integration,
            "alert_starts_at": starts,
            "last_seen_at": now,
            "occurrences": 1,
            "previous_incident": latest,
            "unrouted": not services,
        },
        timeline_data={
            "payload": payload.pk if payload else None,
            "alert_key": event.dedup_key,
            **({"seen_before": latest.pk} if latest else {}),
        },
        unless_key_open=True,
    )
    if incident is None:
        # Another delivery opened it a moment ago (the partial unique constraint said so): attach to theirs.
        incident = open_incident(integration, event.dedup_key)
        if incident is None:
            raise IntegrityError(f"events key {event.dedup_key!r}: could neither open nor find an open incident")
        Incident.objects.filter(pk=incident.pk).update(occurrences=incident.occurrences + 1, last_seen_at=now)
        return Outcome(event.dedup_key, "attached", incident.pk)
    IncidentAlert.objects.bulk_create(alert_rows(incident, [alert], payload, now))
    return Outcome(event.dedup_key, "opened", incident.pk)


def _description(event: EventIn) -> str:
    lines = [f"Source: {event.source}"]
    for label, value in (("Component", event.component), ("Group", event.group), ("Class", event.event_class)):
        if value:
            lines.append(f"{label}: {value}")
    if event.custom_details is not None:
        details = json.dumps(event.custom_details, indent=2, sort_keys=True, default=str)
        lines.append(f"Details:\n{details[:10000]}")
    for link in event.links[:10]:
        lines.append(f"Link: {link.get('text') or link['href']} {link['href']}")
    return "\n".join(lines)[:20000]
