"""Escalation: an incident's frozen policy, run step by step by the beat tick.

The policy is copied into ``IncidentEscalation.plan`` when the incident opens
and its first step fires in that same transaction. A tick fires each due step
with a conditional update on ``(generation, next_index)`` — two overlapping
ticks cannot both win — and the unique ``EscalationFiring`` row backs it up.
Acknowledging (any move out of ``detected``) stops it; reopening starts it
again from the first step; changing the severity re-times the pending step.
"""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from incidents import sla
from incidents.models import Incident, Service, Status, TimelineKind
from incidents.paging import oncall, outbox
from incidents.paging.models import (
    Channel,
    EscalationFiring,
    EscalationPolicy,
    EscalationState,
    EscalationStep,
    IncidentEscalation,
    Schedule,
    Stakeholder,
)
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)


def _policy_sql() -> str:
    """The incident's policy: its first service (by slug) with a policy that has steps, else the default one."""
    policy, step = EscalationPolicy._meta.db_table, EscalationStep._meta.db_table
    covers = EscalationPolicy.services.through._meta.db_table
    holds = Incident.services.through._meta.db_table
    service = Service._meta.db_table
    return (
        f"SELECT p.id FROM {policy} p "  # noqa: S608 (table names from the models' metadata; values are parameters)
        f"LEFT JOIN {covers} c ON c.escalationpolicy_id = p.id "
        f"LEFT JOIN {holds} h ON h.service_id = c.service_id AND h.incident_id = %s "
        f"LEFT JOIN {service} s ON s.id = h.service_id "
        f"WHERE EXISTS (SELECT 1 FROM {step} st WHERE st.policy_id = p.id) "
        "AND (h.incident_id IS NOT NULL OR p.is_default) "
        "ORDER BY h.incident_id IS NULL, s.slug, p.slug LIMIT 1"
    )


def opening_probe(incident: Incident) -> tuple[int | None, bool]:
    """What paging needs to know when an incident opens, in one statement (it runs for every incident filed).

    The id of the escalation policy to freeze onto it (``policy_for``), and
    whether any of its services has stakeholders to tell.
    """
    holds = Incident.services.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ({_policy_sql()}), EXISTS (SELECT 1 FROM {Stakeholder._meta.db_table} k "  # noqa: S608 (table names from the models' metadata; values are parameters)
            f"JOIN {holds} h ON h.service_id = k.service_id WHERE h.incident_id = %s)",
            [incident.pk, incident.pk],
        )
        policy_id, told = cursor.fetchone()
    return policy_id, bool(told)


def policy_for(incident: Incident) -> EscalationPolicy | None:
    """The first of the incident's services (by slug) with a policy, else the default policy."""
    with connection.cursor() as cursor:
        cursor.execute(_policy_sql(), [incident.pk])
        row = cursor.fetchone()
    return EscalationPolicy.objects.get(pk=row[0]) if row else None


def policy_plan(policy: EscalationPolicy) -> dict:
    steps = []
    for step in policy.steps.select_related("schedule", "channel").prefetch_related("users"):
        steps.append(
            {
                "schedule": step.schedule.slug if step.schedule else None,
                "users": [u.get_username() for u in step.users.all()],
                "channel": step.channel.slug if step.channel else None,
                "wait_minutes": step.wait_minutes,
            }
        )
    return {"policy": policy.slug, "repeat": policy.repeat, "steps": steps}


def _total(plan: dict) -> int:
    return len(plan["steps"]) * (1 + plan["repeat"])


def wait_after(plan: dict, index: int, incident: Incident) -> timedelta:
    """The wait after step ``index``: its own, or the acknowledge target of the incident's severity."""
    step = plan["steps"][index % len(plan["steps"])]
    if step["wait_minutes"] is not None:
        return timedelta(minutes=step["wait_minutes"])
    return sla.ack_target(incident.severity)


def next_fire_at(plan: dict, index: int, fired_at: datetime, incident: Incident) -> datetime | None:
    """When the step after ``index`` is due; the first escalation never later than the SLA deadline."""
    if index + 1 >= _total(plan):
        return None
    due = fired_at + wait_after(plan, index, incident)
    if index == 0 and incident.status == Status.DETECTED:
        due = min(due, max(incident.ack_due_at, fired_at))
    return due


def escalation_start(
    incident: Incident, *, now: datetime, policy: EscalationPolicy | None = None
) -> IncidentEscalation | None:
    """Freeze the policy onto a newly opened incident and fire its first step (inside the opening transaction).

    ``policy``: the one ``policy_for`` picks, when the caller has it already.
    """
    policy = policy or policy_for(incident)
    if policy is None:
        return None
    escalation = IncidentEscalation.objects.create(
        incident=incident, policy_slug=policy.slug, plan=policy_plan(policy), next_index=0, next_fire_at=now
    )
    step_fire(escalation_id=escalation.pk, now=now)
    return escalation


def escalation_restart(incident: Incident, *, now: datetime) -> None:
    """A reopened incident: its frozen plan runs again from the first step."""
    updated = IncidentEscalation.objects.filter(incident=incident).update(
        state=EscalationState.ACTIVE, generation=F("generation") + 1, next_index=0, next_fire_at=now
    )
    if updated:
        step_fire(escalation_id=IncidentEscalation.objects.get(incident=incident).pk, now=now)


def escalation_stop(incident: Incident, *, reason: str, now: datetime) -> bool:
    stopped = IncidentEscalation.objects.filter(incident=incident, state=EscalationState.ACTIVE).update(
        state=EscalationState.STOPPED, next_fire_at=None
    )
    if stopped:
        timeline_entry_add(
            incident=incident,
            kind=TimelineKind.ESCALATION,
            actor=outbox.PAGER,
            text=f"Escalation stopped: {reason}",
            data={"stopped": True, "reason": reason},
            at=now,
        )
    return bool(stopped)


def escalation_retime(incident: Incident) -> None:
    """The severity changed: the pending step is due after the new severity's wait."""
    escalation = IncidentEscalation.objects.filter(incident=incident, state=EscalationState.ACTIVE).first()
    if escalation is None or escalation.next_index == 0 or escalation.last_fired_at is None:
        return
    due = next_fire_at(escalation.plan, escalation.next_index - 1, escalation.last_fired_at, incident)
    IncidentEscalation.objects.filter(
        pk=escalation.pk, generation=escalation.generation, next_index=escalation.next_index
    ).update(next_fire_at=due)


def escalations_due(*, now: datetime):
    return IncidentEscalation.objects.filter(state=EscalationState.ACTIVE, next_fire_at__lte=now).order_by(
        "next_fire_at"
    )


def escalations_tick(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fire every due step once. Returns how many this call fired."""
    now = now or timezone.now()
    ids = list(escalations_due(now=now).values_list("pk", flat=True)[:limit])
    return sum(step_fire(escalation_id=pk, now=now) for pk in ids)


def step_fire(*, escalation_id: int, now: datetime) -> bool:
    """Fire the escalation's due step. True when this call fired it."""
    try:
        with transaction.atomic():
            escalation = IncidentEscalation.objects.select_related("incident").get(pk=escalation_id)
            incident, plan = escalation.incident, escalation.plan
            index, generation = escalation.next_index, escalation.generation
            if escalation.state != EscalationState.ACTIVE or index >= _total(plan):
                return False
            following = next_fire_at(plan, index, now, incident)
            won = IncidentEscalation.objects.filter(
                pk=escalation_id,
                state=EscalationState.ACTIVE,
                generation=generation,
                next_index=index,
                next_fire_at__lte=now,
            ).update(
                next_index=index + 1,
                last_fired_at=now,
                next_fire_at=following,
                state=EscalationState.ACTIVE if following else EscalationState.FINISHED,
            )
            if not won:
                return False
            recipients = _notify(incident, plan, index=index, generation=generation, now=now)
            EscalationFiring.objects.create(
                escalation=escalation, generation=generation, index=index, fired_at=now, recipients=recipients
            )
    except IntegrityError:
        logger.info("step %s of escalation %s had already fired", index, escalation_id)
        return False
    return True


def _notify(incident: Incident, plan: dict, *, index: int, generation: int, now: datetime) -> list[str]:
    steps = plan["steps"]
    step, position, round_ = steps[index % len(steps)], index % len(steps) + 1, index // len(steps) + 1
    users, channel, why = [], None, []
    if step["schedule"]:
        schedule = Schedule.objects.filter(slug=step["schedule"]).prefetch_related("rotations", "overrides").first()
        try:
            on_call = oncall.oncall_users(schedule, at=now) if schedule is not None else None
        except (ZoneInfoNotFoundError, ValueError):
            # A time zone mistyped in the admin must not stop the incident from opening.
            on_call = None
            why.append(f"schedule {schedule.slug} has an unknown time zone {schedule.time_zone!r}")
            schedule = None
        if on_call is not None:
            users += on_call
            why.append(f"on call for {schedule.slug}: {', '.join(u.get_username() for u in on_call) or 'nobody'}")
        elif not why:
            why.append(f"schedule {step['schedule']} no longer exists")
    if step["users"]:
        named = {
            u.get_username(): u for u in get_user_model().objects.filter(username__in=step["users"], is_active=True)
        }
        users += [named[name] for name in step["users"] if name in named]
    if step["channel"]:
        channel = Channel.objects.filter(slug=step["channel"]).first()
    title = f"[{incident.severity}] {incident.reference} {incident.title}"
    text = (
        f"{incident.reference} needs acknowledgement ({incident.severity}, {incident.status}): {incident.title}. "
        f"Acknowledge by {timezone.localtime(incident.ack_due_at):%H:%M %Z}."
    )
    message = outbox.incident_message(incident, title=title, text=text, at=now)
    recipients, unreachable, seen = [], [], set()
    for user in users:
        name = user.get_username()
        if name in seen:
            continue
        seen.add(name)
        key = f"page:{incident.pk}:{generation}:{index}:user:{name}"
        if outbox.delivery_create(key=key, incident=incident, event="page", purpose="page", message=message, user=user):
            recipients.append(name)
        else:
            unreachable.append(name)
    if channel is not None:
        key = f"page:{incident.pk}:{generation}:{index}:channel:{channel.slug}"
        outbox.delivery_create(
            key=key, incident=incident, event="page", purpose="page", message=message, channel=channel
        )
        recipients.append(f"#{channel.slug}")
    text = f"Escalation step {position}" + (f" (round {round_})" if round_ > 1 else "") + ": "
    text += f"paged {', '.join(recipients)}" if recipients else "nobody to page"
    if unreachable:
        text += f"; no contact method for {', '.join(unreachable)}"
    if why:
        text += f" ({'; '.join(why)})"
    timeline_entry_add(
        incident=incident,
        kind=TimelineKind.ESCALATION,
        actor=outbox.PAGER,
        text=text,
        data={
            "policy": plan["policy"],
            "step": position,
            "round": round_,
            "generation": generation,
            "recipients": recipients,
            "unreachable": unreachable,
        },
        at=now,
    )
    return recipients
