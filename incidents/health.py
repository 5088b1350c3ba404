"""Probes and metrics: /healthz (alive), /readyz (dependencies reachable), /metrics.

The probes answer anyone, so they say only which dependency is down; the
error itself (host names, driver messages) goes to the log.
"""

import hmac
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from incidents import metrics

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _check_broker() -> str | None:
    from kombu import Connection

    from orion_ops.celery import app

    try:
        with Connection(
            app.conf.broker_url, transport_options=app.conf.broker_transport_options or {}, connect_timeout=2
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


@never_cache
@require_GET
def readyz(request):
    errors = {"database": _check_database(), "broker": _check_broker()}
    for name, error in errors.items():
        if error is not None:
            logger.warning("not ready: %s is down: %s", name, error)
    ready = all(error is None for error in errors.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: ("ok" if error is None else "down") for name, error in errors.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
@require_GET
def metrics_view(request):
    if settings.METRICS_TOKEN:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), settings.METRICS_TOKEN.encode()):
            return JsonResponse({"detail": "Bearer token required."}, status=401)
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
