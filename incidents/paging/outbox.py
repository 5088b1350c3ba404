"""The outbox: deliveries written in the transaction of their event, delivered by a task.

``delivery_create`` adds a row and queues its task after commit; a rolled-back
event sends nothing. ``delivery_attempt`` is the task's body: it claims the row
with a conditional update (two workers never send the same row at once), sends
by the current contact method and records the attempt. A transient failure is
retried with exponential backoff and full jitter, capped below the broker's
visibility timeout; a permanent one, or running out of attempts, moves on to the
recipient's next contact method and, when none is left, marks the row failed.
A sweep re-queues rows whose task was lost (broker down, worker killed).
"""

import logging
import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.actors import Actor
from incidents.models import Incident, TimelineKind
from incidents.paging import channels
from incidents.paging.models import Delivery, DeliveryAttempt, DeliveryStatus
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

PAGER = Actor.system("Paging")


def incident_message(incident: Incident, *, title: str, text: str, at: datetime) -> dict:
    url = f"{settings.ORION_BASE_URL.rstrip('/')}/incidents/{incident.pk}/" if settings.ORION_BASE_URL else ""
    return {
        "title": title,
        "text": text,
        "severity": incident.severity,
        "reference": incident.reference,
        "url": url,
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "url": url,
            "ack_due_at": incident.ack_due_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
    }


def contacts_of(user) -> list[dict]:
    """A person's contact methods in order; their account email when they set none."""
    methods = [{"kind": m.kind, "address": m.address} for m in user.contact_methods.all()]
    if not methods and user.email:
        methods = [{"kind": "email", "address": user.email}]
    return methods


def delivery_create(
    *, key: str, incident: Incident | None, event: str, purpose: str, message: dict, user=None, channel=None
) -> Delivery | None:
    """One outbox row (None when the recipient has no way to be reached). Call inside the event's transaction."""
    if channel is not None:
        contacts = [{"kind": channel.kind, "channel": channel.slug}]
        recipient = channel.slug
    else:
        contacts = contacts_of(user)
        recipient = user.get_username()
    if not contacts:
        return None
    now = timezone.now()
    delivery, created = Delivery.objects.get_or_create(
        key=key[:200],
        defaults={
            "incident": incident,
            "event": event,
            "purpose": purpose,
            "user": user,
            "channel": channel,
            "recipient": recipient,
            "contacts": contacts,
            "message": message,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    if created:
        delivery_enqueue(delivery.pk)
    return delivery


def delivery_enqueue(delivery_id: int, *, countdown: float = 0) -> None:
    def send_task():
        from incidents.paging.tasks import deliver

        try:
            deliver.apply_async((delivery_id,), countdown=countdown)
        except Exception:
            # The broker is down: the sweep finds the row when it is back.
            logger.exception("could not queue delivery %s", delivery_id)

    transaction.on_commit(send_task)


def backoff_seconds(attempt: int) -> float:
    """Full jitter over an exponential ceiling, capped below the broker's visibility timeout."""
    cap = min(settings.PAGING_RETRY_MAX_SECONDS, settings.CELERY_VISIBILITY_TIMEOUT // 2)
    ceiling = min(cap, settings.PAGING_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _claim(delivery_id: int, now: datetime) -> bool:
    claim = timedelta(seconds=settings.PAGING_SEND_TIMEOUT_SECONDS * 2 + 5)
    return bool(
        Delivery.objects.filter(
            Q(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
                next_attempt_at__lte=now + timedelta(seconds=1),
            )
            | Q(status=DeliveryStatus.SENDING, claimed_until__lt=now),
            pk=delivery_id,
        ).update(status=DeliveryStatus.SENDING, claimed_until=now + claim, attempts=F("attempts") + 1)
    )


def delivery_attempt(delivery_id: int) -> str:
    """Try one delivery once; returns its status afterwards (or "skipped" when it was not this call's to send)."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        current = Delivery.objects.filter(pk=delivery_id).values("status", "claimed_until", "next_attempt_at").first()
        if current and current["status"] == DeliveryStatus.SENDING and current["claimed_until"]:
            # Another worker holds it (or held it and died): look again when its claim runs out.
            delivery_enqueue(delivery_id, countdown=max(1.0, (current["claimed_until"] - now).total_seconds() + 1))
        return "skipped"
    delivery = Delivery.objects.get(pk=delivery_id)
    contact = delivery.contacts[delivery.contact_index]
    outcome = channels.send(contact, delivery.message, event=delivery.event, delivery_id=delivery.pk)
    tries_on_contact = (
        DeliveryAttempt.objects.filter(delivery=delivery, contact_index=delivery.contact_index).count() + 1
    )
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            contact_index=delivery.contact_index,
            contact_kind=contact["kind"],
            started_at=now,
            latency_ms=outcome.latency_ms,
            status_code=outcome.status_code,
            ok=outcome.ok,
            permanent=outcome.permanent,
            error=outcome.error,
        )
        done = timezone.now()
        fields = {"claimed_until": None, "last_error": outcome.error}
        if outcome.ok:
            fields.update(status=DeliveryStatus.DELIVERED, delivered_at=done)
        elif not outcome.permanent and tries_on_contact < settings.PAGING_MAX_ATTEMPTS:
            wait = backoff_seconds(tries_on_contact)
            fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=done + timedelta(seconds=wait))
            delivery_enqueue(delivery_id, countdown=wait)
        elif delivery.contact_index + 1 < len(delivery.contacts):
            fields.update(
                status=DeliveryStatus.RETRYING, next_attempt_at=done, contact_index=delivery.contact_index + 1
            )
            delivery_enqueue(delivery_id)
        else:
            fields.update(status=DeliveryStatus.FAILED)
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.SENDING).update(**fields)
        if (
            delivery.incident_id
            and delivery.purpose == "page"
            and fields["status"]
            in (
                DeliveryStatus.DELIVERED,
                DeliveryStatus.FAILED,
            )
        ):
            _timeline_outcome(delivery, contact, outcome, at=done)
    return fields["status"]


def _timeline_outcome(delivery: Delivery, contact: dict, outcome: channels.Outcome, *, at: datetime) -> None:
    how = contact["kind"]
    if outcome.ok:
        text = f"Page delivered to {delivery.recipient} by {how}"
    else:
        text = f"Page to {delivery.recipient} failed after {delivery.attempts} attempt(s): {outcome.error}"
    timeline_entry_add(
        incident=delivery.incident,
        kind=TimelineKind.PAGE,
        actor=PAGER,
        text=text,
        data={
            "delivery": delivery.pk,
            "recipient": delivery.recipient,
            "contact_kind": how,
            "status": "delivered" if outcome.ok else "failed",
            "attempts": delivery.attempts,
            "status_code": outcome.status_code,
        },
        at=at,
    )


def delivery_resend(*, delivery: Delivery, actor: Actor) -> Delivery:
    """Send a delivered or failed message again, from its first contact method, as a new outbox row."""
    now = timezone.now()
    with transaction.atomic():
        copy = Delivery.objects.create(
            key=f"resend:{delivery.pk}:{now.timestamp()}",
            incident=delivery.incident,
            event=delivery.event,
            purpose=delivery.purpose,
            user=delivery.user,
            channel=delivery.channel,
            recipient=delivery.recipient,
            contacts=delivery.contacts,
            message=delivery.message,
            next_attempt_at=now,
            created_at=now,
        )
        if delivery.incident_id:
            timeline_entry_add(
                incident=delivery.incident,
                kind=TimelineKind.PAGE,
                actor=actor,
                text=f"Re-sent the {delivery.event} message to {delivery.recipient}",
                data={"delivery": copy.pk, "resend_of": delivery.pk, "recipient": delivery.recipient},
                at=now,
            )
        delivery_enqueue(copy.pk)
    return copy


def deliveries_sweep(*, now: datetime | None = None, grace_seconds: int = 60, limit: int = 500) -> int:
    """Queue again the rows whose task never ran or died: due for ``grace_seconds`` and unclaimed."""
    now = now or timezone.now()
    stale = Delivery.objects.filter(
        Q(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
            next_attempt_at__lt=now - timedelta(seconds=grace_seconds),
        )
        | Q(status=DeliveryStatus.SENDING, claimed_until__lt=now)
    ).values_list("pk", flat=True)[:limit]
    ids = list(stale)
    for pk in ids:
        from incidents.paging.tasks import deliver

        deliver.delay(pk)
    return len(ids)
