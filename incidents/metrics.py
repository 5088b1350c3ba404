"""Prometheus metrics of Orion Ops itself, served at /metrics.

Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR must point at a
shared, empty folder; counters are then summed over all worker processes.
Gauges about incidents are read from the database at scrape time, so every
worker reports the same truth.
"""

import os
import time

from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUESTS = Counter(
    "orion_http_requests_total", "HTTP requests served, by method and status class.", ["method", "status"]
)
HTTP_LATENCY = Histogram(
    "orion_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TRANSITIONS = Counter("orion_incident_transitions_total", "Incident status moves, by target state.", ["to"])
SLA_BREACHES = Counter("orion_sla_breaches_total", "Acknowledgement SLA breaches marked.", ["severity"])
INTAKE_OUTCOMES = Counter(
    "orion_intake_alert_keys_total",
    "Alert keys processed by intake, by integration kind and outcome (opened, attached, repeat, resolved, dropped…).",
    ["kind", "outcome"],
)
INTAKE_REJECTED = Counter(
    "orion_intake_rejected_total", "Intake requests or single alerts refused, by reason.", ["kind", "reason"]
)
INTAKE_PAYLOADS_FAILED = Counter(
    "orion_intake_payloads_failed_total", "Stored payloads given up on after INTAKE_MAX_ATTEMPTS.", ["kind"]
)


class IncidentCollector:
    """Open incidents and unacknowledged breaches, counted in the database at scrape time."""

    def collect(self):
        from incidents.models import OPEN_STATUSES, Incident, Severity

        open_gauge = GaugeMetricFamily(
            "orion_incidents_open", "Open incidents by severity and status.", labels=["severity", "status"]
        )
        counts = {
            (row["severity"], row["status"]): row["n"]
            for row in Incident.objects.filter(status__in=OPEN_STATUSES)
            .values("severity", "status")
            .annotate(n=Count("id"))
            .order_by()
        }
        for severity in Severity.values:
            for status in OPEN_STATUSES:
                open_gauge.add_metric([severity, str(status)], counts.get((severity, status), 0))
        yield open_gauge
        yield from _payload_gauges()


def _payload_gauges():
    """Stored alert payloads not applied: pending (waiting for a worker or the sweep) and failed."""
    from django.utils import timezone

    from incidents.models import AlertPayload, PayloadStatus

    gauge = GaugeMetricFamily(
        "orion_intake_payloads", "Stored alert payloads pending or failed (not applied).", labels=["status"]
    )
    for status in (PayloadStatus.PENDING, PayloadStatus.FAILED):
        gauge.add_metric([str(status)], AlertPayload.objects.filter(status=status).count())
    yield gauge
    oldest = (
        AlertPayload.objects.filter(status=PayloadStatus.PENDING)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    age = GaugeMetricFamily(
        "orion_intake_oldest_pending_payload_seconds", "Age of the oldest pending alert payload (0 when none)."
    )
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    yield age


def render() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (
            HTTP_REQUESTS,
            HTTP_LATENCY,
            TRANSITIONS,
            SLA_BREACHES,
            INTAKE_OUTCOMES,
            INTAKE_REJECTED,
            INTAKE_PAYLOADS_FAILED,
        ):
            registry.register(collector)
    registry.register(IncidentCollector())
    return generate_latest(registry)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        HTTP_LATENCY.labels(method=request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(method=request.method, status=f"{response.status_code // 100}xx").inc()
        return response
