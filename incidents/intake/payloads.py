"""Raw bodies: stored before the sender hears 2xx, applied inline or by a worker, never lost.

Guarantees, in one place:
- a body is stored (``AlertPayload``) in the transaction that applies it, or,
  for large bodies, before the 202; a 503 means nothing was stored;
- the stored copy never holds an integration key: an event's ``routing_key``
  is replaced by ``[removed]`` (and so is the key wherever else it appears);
- one bad alert key never costs the others: keys are applied in batches, and
  a batch that fails is applied again key by key, each failure recorded on the
  payload with its reason;
- a payload the worker could not apply stays ``pending`` for the sweep, which
  takes every pending payload in turn, each in its own transaction; after
  INTAKE_MAX_ATTEMPTS failures a payload is ``failed`` (shown on /intake/ and
  in /metrics) and no longer retried.
"""

import json
import logging
import time

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, NotSupportedError, ProgrammingError, transaction
from django.db.models import F
from django.utils import timezone

from incidents import metrics
from incidents.intake.alertmanager import AlertGroup, Outcome, ServiceIndex, alertmanager_parse, candidate_slugs
from incidents.intake.alertmanager import group_apply as _group_apply
from incidents.intake.events import event_apply, event_parse
from incidents.intake.schema import IntakeError, clean_json, json_load
from incidents.models import AlertPayload, Integration, IntegrationKind, PayloadStatus

logger = logging.getLogger(__name__)

REDACTED = "[removed]"


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying (the database went away, a lock timed out), not a fault of the body."""
    return isinstance(exc, DatabaseError) and not isinstance(
        exc, IntegrityError | DataError | ProgrammingError | NotSupportedError
    )


# Storing -------------------------------------------------------------------------------


def _scrub(value, secret: str):
    if isinstance(value, str):
        return value.replace(secret, REDACTED) if secret in value else value
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secret) for k, v in value.items()}
    return value


def events_body_redacted(data) -> str:
    """An Events v2 body as kept for audit: the routing key replaced by a marker, wherever it appears."""
    data, _ = clean_json(data)
    if not isinstance(data, dict):
        return json.dumps(data, ensure_ascii=False)
    secret = data.get("routing_key")
    if isinstance(secret, str) and secret and secret != REDACTED:
        data = _scrub(data, secret)
    if "routing_key" in data:
        data["routing_key"] = REDACTED
    return json.dumps(data, ensure_ascii=False)


def storable_body(*, integration: Integration, body: bytes | str, data=None, secret: str = "") -> str:
    """The text kept as a payload's audit copy: never an integration key in clear."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if integration.kind == IntegrationKind.EVENTS:
        return events_body_redacted(json.loads(text) if data is None else data)
    if secret and secret in text:
        text = text.replace(secret, REDACTED)
    return text


def payload_store(
    *,
    integration: Integration,
    body: bytes | str,
    alert_count: int,
    processed: bool = False,
    rejected: list | None = None,
    data=None,
    secret: str = "",
) -> AlertPayload:
    now = timezone.now()
    return AlertPayload.objects.create(
        integration=integration,
        received_at=now,
        body=storable_body(integration=integration, body=body, data=data, secret=secret),
        size=len(body),
        alert_count=alert_count,
        status=PayloadStatus.PROCESSED if processed else PayloadStatus.PENDING,
        processed_at=now if processed else None,
        attempts=1 if processed else 0,
        rejected=rejected or [],
        error=_rejections_text(rejected or []),
    )


def _rejections_text(rejected: list) -> str:
    if not rejected:
        return ""
    lines = [f"{len(rejected)} alert{'s' if len(rejected) != 1 else ''} refused:"]
    for item in rejected[:20]:
        lines.extend(item.get("errors", []))
    return "\n".join(lines)[:2000]


# Applying ----------------------------------------------------------------------------------


def groups_apply(
    *, integration: Integration, groups: list[AlertGroup], payload: AlertPayload | None, isolate: bool = True
) -> tuple[list[Outcome], list[dict]]:
    """Apply groups in batches of INTAKE_BATCH_ALERTS alerts, several keys per transaction.

    With ``isolate`` (the default, outside any transaction), a batch that fails
    for a reason other than the database going away is applied again key by
    key; keys that still fail come back as failures ``{key, alerts, errors}``.
    Without it (inside a caller's transaction), the first failure propagates.
    """
    known = ServiceIndex(candidate_slugs(integration, groups))
    outcomes: list[Outcome] = []
    failures: list[dict] = []
    batch_alerts = settings.INTAKE_BATCH_ALERTS
    start = 0
    while start < len(groups):
        end, alerts = start, 0
        while end < len(groups) and (end == start or alerts + len(groups[end].alerts) <= batch_alerts):
            alerts += len(groups[end].alerts)
            end += 1
        batch = groups[start:end]
        start = end
        if not isolate:
            with transaction.atomic(savepoint=False):
                outcomes.extend(_apply(integration, batch, payload, known))
            continue
        try:
            with transaction.atomic():
                outcomes.extend(_apply(integration, batch, payload, known))
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(batch) > 1:
                logger.warning("intake: a batch of %s keys failed (%s); applying key by key", len(batch), exc)
            for group in batch:
                try:
                    if len(batch) == 1:
                        raise exc
                    with transaction.atomic():
                        outcomes.extend(_apply(integration, [group], payload, known))
                except Exception as group_exc:
                    if is_transient(group_exc):
                        raise
                    logger.exception("intake: alert key %r could not be applied", group.key)
                    failures.append({"key": group.key, "alerts": len(group.alerts), "errors": [_reason(group_exc)]})
                    outcomes.append(Outcome(group.key, "failed", None))
    return outcomes, failures


def _apply(integration, groups, payload, known) -> list[Outcome]:
    now = timezone.now()
    return [
        _group_apply(integration=integration, group=group, payload=payload, known_services=known, now=now)
        for group in groups
    ]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip()}"[:500]


def alertmanager_apply_now(
    *, integration: Integration, body: bytes, parsed, secret: str = ""
) -> tuple[AlertPayload, list[Outcome]]:
    """Store and apply a small body in one transaction: one commit, and all or nothing.

    A transient failure propagates (nothing stored; the sender, answered 503,
    sends again). Any other failure is not the sender's to retry: the body is
    stored on its own and applied key by key, so the good keys still land.
    """
    try:
        with transaction.atomic():
            payload = payload_store(
                integration=integration,
                body=body,
                alert_count=parsed.alert_count,
                processed=True,
                rejected=parsed.rejected,
                secret=secret,
            )
            outcomes, _ = groups_apply(integration=integration, groups=parsed.groups, payload=payload, isolate=False)
        return payload, outcomes
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("intake: applying a body at once failed; storing it and applying key by key")
    payload = payload_store(
        integration=integration, body=body, alert_count=parsed.alert_count, rejected=parsed.rejected, secret=secret
    )
    return payload, payload_process(payload.pk)


def event_apply_now(*, integration: Integration, body: bytes, data, event) -> tuple[AlertPayload, Outcome | None]:
    """Store and apply an event in one transaction, so a retried event cannot be applied twice.

    As for webhooks: transient failures propagate with nothing stored; any
    other failure leaves the event stored and pending for the sweep.
    """
    try:
        with transaction.atomic():
            payload = payload_store(integration=integration, body=body, alert_count=1, processed=True, data=data)
            outcome = event_apply(integration=integration, event=event, payload=payload)
        return payload, outcome
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("events intake: applying an event failed; stored for the sweep")
        failure = _reason(exc)
    payload = payload_store(integration=integration, body=body, alert_count=1, data=data)
    AlertPayload.objects.filter(pk=payload.pk).update(attempts=1, error=failure)
    return payload, None


# Processing stored payloads ----------------------------------------------------------------


def payload_process(payload_id: int) -> list[Outcome]:
    """Apply a stored payload. Safe to run again (replay, redelivery, the sweep).

    Every call counts an attempt. A body that cannot be parsed is ``failed``
    at once; a failure while applying is recorded and leaves the payload
    ``pending`` until INTAKE_MAX_ATTEMPTS, then ``failed``. A transient
    database failure is re-raised after it is recorded (when it can be).
    """
    payload = AlertPayload.objects.select_related("integration").get(pk=payload_id)
    integration = payload.integration
    AlertPayload.objects.filter(pk=payload.pk).update(attempts=F("attempts") + 1)
    attempts = payload.attempts + 1
    try:
        data = json_load(payload.body.encode("utf-8"))
        if integration.kind == IntegrationKind.EVENTS:
            event = event_parse(data)
        else:
            parsed = alertmanager_parse(data, integration=integration)
    except IntakeError as exc:
        _fail(payload, "; ".join(exc.errors), final=True)
        return []
    try:
        if integration.kind == IntegrationKind.EVENTS:
            with transaction.atomic():
                outcomes = [event_apply(integration=integration, event=event, payload=payload)]
            rejected: list = []
        else:
            outcomes, failures = groups_apply(integration=integration, groups=parsed.groups, payload=payload)
            rejected = parsed.rejected + failures
            if failures and len(failures) == len(parsed.groups):
                reasons = "; ".join(f["errors"][0] for f in failures)
                _fail(payload, reasons, final=attempts >= settings.INTAKE_MAX_ATTEMPTS)
                return outcomes
    except Exception as exc:
        final = attempts >= settings.INTAKE_MAX_ATTEMPTS
        try:
            _fail(payload, _reason(exc), final=final)
        except DatabaseError:
            logger.warning("intake: could not record the failure of payload %s", payload.pk)
        if is_transient(exc):
            raise
        logger.exception("intake: payload %s failed (attempt %s)", payload.pk, attempts)
        return []
    AlertPayload.objects.filter(pk=payload.pk).update(
        status=PayloadStatus.PROCESSED,
        processed_at=timezone.now(),
        error=_rejections_text(rejected),
        rejected=rejected,
    )
    for outcome in outcomes:
        metrics.INTAKE_OUTCOMES.labels(kind=integration.kind, outcome=outcome.action).inc()
    return outcomes


def _fail(payload: AlertPayload, reason: str, *, final: bool) -> None:
    fields = {"error": reason[:2000]}
    if final:
        fields["status"] = PayloadStatus.FAILED
        metrics.INTAKE_PAYLOADS_FAILED.labels(kind=payload.integration.kind).inc()
    AlertPayload.objects.filter(pk=payload.pk).update(**fields)


def payloads_pending(*, older_than_seconds: int):
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return AlertPayload.objects.filter(status=PayloadStatus.PENDING, received_at__lt=cutoff).order_by("received_at")


def payloads_sweep(*, older_than_seconds: int = 120, budget_seconds: float = 600.0) -> int:
    """Apply every payload left pending (broker down, worker died), each on its own.

    One payload's failure never stops the others: the sweep always goes on to
    the end of the queue, within ``budget_seconds`` (the rest waits for the
    next run). Returns how many payloads it tried.
    """
    deadline = time.monotonic() + budget_seconds
    tried, after = 0, 0
    while time.monotonic() < deadline:
        ids = list(
            payloads_pending(older_than_seconds=older_than_seconds)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:100]
        )
        if not ids:
            break
        for payload_id in ids:
            if time.monotonic() >= deadline:
                break
            after = payload_id
            tried += 1
            try:
                payload_process(payload_id)
            except Exception:
                logger.exception("intake sweep: payload %s failed; it stays pending", payload_id)
    return tried


def payloads_purge(*, retention_days: int) -> int:
    cutoff = timezone.now() - timezone.timedelta(days=retention_days)
    deleted, _ = AlertPayload.objects.filter(received_at__lt=cutoff).exclude(status=PayloadStatus.PENDING).delete()
    return deleted
