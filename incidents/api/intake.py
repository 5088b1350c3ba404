"""Intake endpoints: Alertmanager webhook (v4) and Events API v2.

Both read the body themselves, after authenticating, so that a missing token
is refused before any parsing, an oversized body is a 413 and never a generic
400, and a body is stored before the sender hears 2xx. Anything transient (the
database or the broker unavailable) is a 503 with Retry-After: Alertmanager
retries only 5xx.
"""

import logging

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import intake, metrics
from incidents.intake.schema import AlertmanagerWebhook, EventV2
from incidents.integrations import integration_for_token
from incidents.models import IntegrationKind

logger = logging.getLogger(__name__)


class _BodyTooLarge(Exception):
    pass


def _read_body(request) -> bytes:
    """The raw body, at most INTAKE_MAX_BODY_BYTES (checked before reading when the length is declared).

    A chunked body declares no length; Django would read it as empty, so it is
    read from the server's input stream, which undoes the chunking.
    """
    limit = settings.INTAKE_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not (declared and declared.isdigit() and int(declared) > 0):
        stream = request.META["wsgi.input"]
    else:
        stream = request._request
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise _BodyTooLarge
    return body


def _too_large(kind: str) -> Response:
    metrics.INTAKE_REJECTED.labels(kind=kind, reason="too_large").inc()
    return Response(
        {
            "detail": f"Body larger than {settings.INTAKE_MAX_BODY_BYTES} bytes. "
            "Lower Alertmanager's max_alerts for this receiver or raise INTAKE_MAX_BODY_BYTES."
        },
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _unavailable(kind: str, what: str) -> Response:
    metrics.INTAKE_REJECTED.labels(kind=kind, reason="unavailable").inc()
    response = Response(
        {"detail": f"{what} is unavailable; nothing was recorded. Retry later."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(settings.INTAKE_RETRY_AFTER_SECONDS)
    return response


def _enqueue(payload_id: int) -> None:
    from incidents.tasks import process_alert_payload

    process_alert_payload.apply_async(
        args=[payload_id],
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    )


REJECTED = inline_serializer(
    "IntakeRejectedAlert",
    many=True,
    fields={
        "alert": serializers.IntegerField(help_text="Index of the alert in the body."),
        "errors": serializers.ListField(child=serializers.CharField()),
    },
)

OUTCOMES = inline_serializer(
    "IntakeOutcome",
    many=True,
    fields={
        "key": serializers.CharField(),
        "action": serializers.ChoiceField(
            choices=["opened", "attached", "repeat", "resolved", "resolve_noted", "acknowledged", "dropped", "failed"]
        ),
        "incident": serializers.IntegerField(allow_null=True),
    },
)

ALERTMANAGER_EXAMPLE = {
    "version": "4",
    "groupKey": '{}:{alertname="HighErrorRate", service="task-service"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "orion-ops",
    "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate", "service": "task-service", "severity": "critical"},
    "commonAnnotations": {"summary": "Error rate above 5% for 5 minutes"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "task-service", "severity": "critical"},
            "annotations": {"summary": "Error rate above 5% for 5 minutes"},
            "startsAt": "2026-11-28T14:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
            "fingerprint": "c1b9a7e2f0d3a4b5",
        }
    ],
}


class AlertmanagerWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Alertmanager webhook (version 4)",
        description=(
            "Configure as a `webhook_configs` receiver with `http_config.authorization.credentials` set to an "
            "alertmanager integration's token (`python manage.py create_integration NAME --kind alertmanager`). "
            "Bodies with up to `INTAKE_INLINE_MAX_ALERTS` alerts are applied before the answer (200); larger "
            "ones are stored and applied by a worker (202). An alert that is malformed is refused on its own and "
            "listed in `rejected` with its reasons; the others are applied. Characters PostgreSQL cannot store (NUL, "
            "lone surrogates) are replaced by U+FFFD. 503 means retry: nothing was recorded."
        ),
        request=AlertmanagerWebhook,
        examples=[OpenApiExample("Firing group", value=ALERTMANAGER_EXAMPLE, request_only=True)],
        responses={
            200: inline_serializer(
                "AlertmanagerProcessed",
                {
                    "status": serializers.CharField(),
                    "payload": serializers.IntegerField(),
                    "alerts": serializers.IntegerField(),
                    "outcomes": OUTCOMES,
                    "rejected": REJECTED,
                },
            ),
            202: inline_serializer(
                "AlertmanagerAccepted",
                {
                    "status": serializers.CharField(),
                    "payload": serializers.IntegerField(),
                    "alerts": serializers.IntegerField(),
                    "rejected": REJECTED,
                },
            ),
            400: OpenApiResponse(description="Invalid body, or no valid alert in it; `errors` name the fields."),
            401: OpenApiResponse(description="Missing or invalid integration token."),
            413: OpenApiResponse(description="Body over INTAKE_MAX_BODY_BYTES."),
            503: OpenApiResponse(description="Database or broker unavailable; retry (Retry-After)."),
        },
        auth=[{"bearerAuth": []}],
        tags=["integrations"],
    )
    def post(self, request):
        kind = IntegrationKind.ALERTMANAGER
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw_token = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_token.strip():
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="unauthenticated").inc()
            return Response(
                {"detail": "Authorization: Bearer <integration token> required."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            integration = integration_for_token(raw_token.strip(), kind=kind)
        except DatabaseError:
            logger.exception("alertmanager intake: database unavailable while checking the token")
            return _unavailable(kind, "The database")
        if integration is None:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="bad_token").inc()
            return Response(
                {"detail": "Invalid or revoked integration token."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )

        try:
            body = _read_body(request)
        except _BodyTooLarge:
            return _too_large(kind)
        try:
            parsed = intake.alertmanager_parse(intake.json_load(body), integration=integration)
        except intake.IntakeError as exc:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="invalid").inc()
            return Response({"detail": "; ".join(exc.errors)[:2000], "errors": exc.errors[:100]}, status=400)
        if parsed.rejected:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="invalid_alert").inc(len(parsed.rejected))
        rejected = parsed.rejected[:100]
        secret = raw_token.strip()

        if parsed.alert_count > settings.INTAKE_INLINE_MAX_ALERTS:
            try:
                payload = intake.payload_store(
                    integration=integration,
                    body=body,
                    alert_count=parsed.alert_count,
                    rejected=parsed.rejected,
                    secret=secret,
                )
            except DatabaseError:
                logger.exception("alertmanager intake: could not store the payload")
                return _unavailable(kind, "The database")
            try:
                _enqueue(payload.pk)
            except Exception:  # the broker's client raises many kinds of connection errors
                # Stored: the sweep applies it. The sender may retry too; applying twice changes nothing.
                logger.exception("alertmanager intake: broker unavailable; payload %s left pending", payload.pk)
                return _unavailable(kind, "The task broker")
            return Response(
                {"status": "accepted", "payload": payload.pk, "alerts": parsed.alert_count, "rejected": rejected},
                status=status.HTTP_202_ACCEPTED,
            )

        try:
            payload, outcomes = intake.alertmanager_apply_now(
                integration=integration, body=body, parsed=parsed, secret=secret
            )
        except Exception as exc:
            if not intake.is_transient(exc):
                raise
            # Rolled back whole: nothing stored, nothing half-applied; the sender retries.
            logger.exception("alertmanager intake: database failed while applying")
            return _unavailable(kind, "The database")
        for outcome in outcomes:
            metrics.INTAKE_OUTCOMES.labels(kind=kind, outcome=outcome.action).inc()
        return Response(
            {
                "status": "processed",
                "payload": payload.pk,
                "alerts": parsed.alert_count,
                "outcomes": [{"key": o.key, "action": o.action, "incident": o.incident_id} for o in outcomes],
                "rejected": rejected,
            }
        )


def _pd_error(message: str, errors: list[str], code: int = 400) -> Response:
    return Response({"status": "invalid event", "message": message, "errors": errors}, status=code)


class EventsView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Events API v2 (PagerDuty format)",
        description=(
            "`routing_key` is an events integration's token "
            "(`python manage.py create_integration NAME --kind events`). `event_action` is trigger, acknowledge or "
            "resolve; `dedup_key` is generated and returned when a trigger has none. Severity: critical → P1, "
            "error/warning → P2, info → P3. Acknowledge/resolve for an unknown key is accepted and dropped."
        ),
        request=EventV2,
        responses={
            202: inline_serializer(
                "EventAccepted",
                {
                    "status": serializers.CharField(),
                    "message": serializers.CharField(),
                    "dedup_key": serializers.CharField(),
                },
            ),
            400: inline_serializer(
                "EventInvalid",
                {
                    "status": serializers.CharField(),
                    "message": serializers.CharField(),
                    "errors": serializers.ListField(child=serializers.CharField()),
                },
            ),
            413: OpenApiResponse(description="Body over INTAKE_MAX_BODY_BYTES."),
            503: OpenApiResponse(description="Database unavailable; retry (Retry-After)."),
        },
        auth=[],
        tags=["integrations"],
    )
    def post(self, request):
        kind = IntegrationKind.EVENTS
        try:
            body = _read_body(request)
        except _BodyTooLarge:
            return _too_large(kind)
        try:
            data = intake.json_load(body)
        except intake.IntakeError as exc:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="invalid").inc()
            return _pd_error("Event object is invalid", exc.errors)
        routing_key = data.get("routing_key") if isinstance(data, dict) else None
        if not isinstance(routing_key, str) or not routing_key.strip():
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="bad_token").inc()
            return _pd_error("Event object is invalid", ["'routing_key' is missing or blank"])
        try:
            # Keys are printable ASCII: anything else matches no integration (and is not hashed).
            integration = integration_for_token(routing_key, kind=kind) if routing_key.isascii() else None
        except DatabaseError:
            logger.exception("events intake: database unavailable while checking the routing key")
            return _unavailable(kind, "The database")
        if integration is None:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="bad_token").inc()
            return _pd_error("Invalid routing key", ["'routing_key' does not match an events integration"])
        try:
            event = intake.event_parse(data)
        except intake.IntakeError as exc:
            metrics.INTAKE_REJECTED.labels(kind=kind, reason="invalid").inc()
            return _pd_error("Event object is invalid", exc.errors[:100])
        try:
            _payload, outcome = intake.event_apply_now(integration=integration, body=body, data=data, event=event)
        except Exception as exc:
            if not intake.is_transient(exc):
                raise
            logger.exception("events intake: database unavailable")
            return _unavailable(kind, "The database")
        metrics.INTAKE_OUTCOMES.labels(kind=kind, outcome=outcome.action if outcome else "stored").inc()
        return Response(
            {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key},
            status=status.HTTP_202_ACCEPTED,
        )
