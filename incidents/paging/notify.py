"""What paging does when something happens to an incident (``incidents.events``), and status updates.

Runs inside the event's transaction: the escalation moves and the outbox rows
commit with the event or not at all. Stakeholders of the incident's services
hear about: opened, acknowledged, severity raised, SLA breached, mitigated,
resolved, reopened, report approved (reviewed), and written status updates.
"""

import uuid
from datetime import datetime

from django.utils import timezone

from incidents.actors import Actor
from incidents.errors import DomainInputError
from incidents.models import Incident, Severity, Status, TimelineKind
from incidents.paging import escalation, outbox
from incidents.paging.models import EscalationPolicy, Stakeholder
from incidents.services import incident_guard_frozen
from incidents.timeline import NOTE_BLANK, note_clean, note_problem, timeline_entry_add

SEVERITY_ORDER = list(Severity.values)  # P0 first: a lower index is more severe

STATUS_EVENTS = {
    Status.ACKNOWLEDGED: ("acknowledged", "acknowledged"),
    Status.MITIGATED: ("mitigated", "mitigated"),
    Status.RESOLVED: ("resolved", "resolved"),
    Status.REVIEWED: ("report_approved", "reviewed: its report was approved"),
}


def on_incident_event(incident: Incident, kind: str, data: dict) -> None:
    now = timezone.now()
    if kind == "opened":
        policy_id, told = escalation.opening_probe(incident)
        if policy_id is not None:
            policy = EscalationPolicy.objects.get(pk=policy_id)
            escalation.escalation_start(incident, now=now, policy=policy)
        if told:
            stakeholders_notify(incident, event="opened", text=f"opened as {incident.severity}", now=now)
    elif kind == "status_changed":
        old, new = data["old"], data["new"]
        if data.get("reopened"):
            escalation.escalation_restart(incident, now=now)
            stakeholders_notify(incident, event="reopened", text=f"reopened by {data.get('actor')}", now=now)
            return
        if old == Status.DETECTED:
            escalation.escalation_stop(incident, reason=f"{new} by {data.get('actor')}", now=now)
        if new in STATUS_EVENTS:
            event, words = STATUS_EVENTS[new]
            stakeholders_notify(incident, event=event, text=f"{words} (by {data.get('actor')})", now=now)
    elif kind == "severity_changed":
        escalation.escalation_retime(incident)
        if SEVERITY_ORDER.index(data["new"]) < SEVERITY_ORDER.index(data["old"]):
            stakeholders_notify(
                incident, event="severity_raised", text=f"severity raised from {data['old']} to {data['new']}", now=now
            )
    elif kind == "sla_breached":
        stakeholders_notify(incident, event="sla_breached", text="not acknowledged within its SLA", now=now)


def stakeholders_of(incident: Incident) -> tuple[list, list]:
    rows = (
        Stakeholder.objects.filter(service__in=incident.services.all())
        .select_related("user", "channel")
        .prefetch_related("user__contact_methods")  # the outbox reads each person's contact methods
    )
    users, channels, seen = [], [], set()
    for row in rows.order_by("id"):
        if row.user_id and row.user.is_active and ("u", row.user_id) not in seen:
            seen.add(("u", row.user_id))
            users.append(row.user)
        elif row.channel_id and ("c", row.channel_id) not in seen:
            seen.add(("c", row.channel_id))
            channels.append(row.channel)
    return users, channels


def stakeholders_notify(incident: Incident, *, event: str, text: str, now: datetime) -> list[str]:
    """One outbox row per stakeholder for this event. Returns the recipients."""
    title = f"{incident.reference} {event.replace('_', ' ')}: {incident.title}"
    return _updates_write(incident, event=event, title=title, text=f"{incident.reference} {text}.", now=now)


def _updates_write(incident: Incident, *, event: str, title: str, text: str, now: datetime) -> list[str]:
    """The outbox rows of one update to every stakeholder of the incident's services. Returns the recipients."""
    users, channels = stakeholders_of(incident)
    if not users and not channels:
        return []
    message = outbox.incident_message(incident, title=title, text=text, at=now)
    occurrence = uuid.uuid4().hex[:12]
    recipients = []
    for user in users:
        key = f"update:{incident.pk}:{event}:{occurrence}:user:{user.get_username()}"
        if outbox.delivery_create(
            key=key, incident=incident, event=event, purpose="update", message=message, user=user
        ):
            recipients.append(user.get_username())
    for channel in channels:
        key = f"update:{incident.pk}:{event}:{occurrence}:channel:{channel.slug}"
        outbox.delivery_create(
            key=key, incident=incident, event=event, purpose="update", message=message, channel=channel
        )
        recipients.append(f"#{channel.slug}")
    return recipients


def status_update_post(*, incident: Incident, actor: Actor, text: str):
    """A written update from the incident's people: to the stakeholders and onto the timeline."""
    from django.db import transaction

    text = note_clean(text)
    problem = note_problem(text, required=NOTE_BLANK)
    if problem:
        raise DomainInputError({"text": [problem]})
    incident_guard_frozen(incident)
    now = timezone.now()
    with transaction.atomic():
        title = f"{incident.reference} status update: {incident.title}"
        recipients = _updates_write(incident, event="status_update", title=title, text=text, now=now)
        entry = timeline_entry_add(
            incident=incident,
            kind=TimelineKind.STATUS_UPDATE,
            actor=actor,
            text=text,
            data={"recipients": recipients},
            at=now,
        )
    return entry, recipients
