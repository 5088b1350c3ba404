"""Prometheus metrics of Orion Ops itself, served at /metrics.

Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR must point at a
shared, empty folder; counters are then summed over all worker processes.
Gauges about incidents are read from the database at scrape time, so every
worker reports the same truth.

Work done by Celery workers (diagnostic runs, SLA breaches, deliveries) is not
counted in the worker's memory, which nobody scrapes: it is counted from the
database at scrape time. Another part of Orion Ops adds its own such metrics
with :func:`register`, from its ``AppConfig.ready()`` (docs/operations.md).
"""

import logging
import os
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Written by the periodic heartbeat task (beat schedules it, a worker runs it).
HEARTBEAT_CACHE_KEY = "orion:beat-heartbeat"
HEARTBEAT_INTERVAL_SECONDS = 30.0
# The queues always reported, even before their first message; others appear once declared.
KNOWN_QUEUES = ("celery", "diagnostics")

_registered: list = []


def register(collector) -> None:
    """Add a collector to /metrics: an object whose ``collect()`` yields metric families.

    Call it from an ``AppConfig.ready()``. ``collect()`` runs at every scrape, in the
    web process: count from the database rather than in a worker's memory, keep it
    to a few indexed queries, and raise nothing (a failing collector is logged and
    left out of that scrape; the rest is served).
    """
    if collector not in _registered:
        _registered.append(collector)


def registered() -> tuple:
    return tuple(_registered)


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


class SlaBreachCollector:
    """Breaches marked, by severity: incidents with an SLA breach, counted in the database."""

    def collect(self):
        from incidents.models import Incident, Severity

        counts = dict(
            Incident.objects.filter(sla_breached_at__isnull=False)
            .values_list("severity")
            .annotate(n=Count("id"))
            .order_by()
        )
        family = CounterMetricFamily(
            "orion_sla_breaches_marked",
            "Incidents whose acknowledgement SLA was breached, by severity.",
            labels=["severity"],
        )
        for severity in Severity.values:
            family.add_metric([severity], counts.get(severity, 0))
        yield family


class BeatHeartbeatCollector:
    """When a worker last ran the heartbeat that beat schedules every HEARTBEAT_INTERVAL_SECONDS."""

    def collect(self):
        family = GaugeMetricFamily(
            "orion_beat_heartbeat_timestamp_seconds",
            "Unix time of the last heartbeat task scheduled by beat and run by a worker (0: never).",
        )
        try:
            stamp = float(cache.get(HEARTBEAT_CACHE_KEY) or 0)
        except Exception:
            logger.warning("cannot read the beat heartbeat from the cache", exc_info=True)
            stamp = 0.0
        family.add_metric([], stamp)
        yield family


def heartbeat_record(now: float | None = None) -> float:
    stamp = time.time() if now is None else now
    cache.set(HEARTBEAT_CACHE_KEY, stamp, timeout=None)
    return stamp


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue on the Redis broker; None without a Redis broker."""
    import redis

    url = settings.CELERY["broker_url"]
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return None
    prefix = settings.CELERY.get("broker_transport_options", {}).get("global_keyprefix", "")
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    queues = set(KNOWN_QUEUES)
    for key in client.scan_iter(match=f"{prefix}_kombu.binding.*", count=200):
        for member in client.smembers(key):
            queue = member.decode(errors="replace").split("\x06\x16")[-1]
            if queue and not queue.endswith(".pidbox") and not queue.startswith("celeryev"):
                queues.add(queue)
    return {queue: int(client.llen(f"{prefix}{queue}")) for queue in sorted(queues)}


class QueueCollector:
    """Celery queue depth, read from the broker at scrape time."""

    def collect(self):
        up = GaugeMetricFamily("orion_celery_broker_up", "1 when /metrics could read the broker's queues.")
        try:
            lengths = queue_lengths()
        except Exception:
            logger.warning("cannot read Celery queue lengths from the broker", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        if lengths is None:
            return
        up.add_metric([], 1)
        yield up
        family = GaugeMetricFamily("orion_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


class _Guarded:
    """A registered collector whose failure leaves it out of one scrape instead of failing /metrics."""

    def __init__(self, collector):
        self.collector = collector

    def collect(self):
        try:
            families = list(self.collector.collect())
        except Exception:
            logger.exception("metrics collector %r failed", self.collector)
            return []
        return families


def render() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (
            HTTP_REQUESTS,
            HTTP_LATENCY,
            TRANSITIONS,
            INTAKE_OUTCOMES,
            INTAKE_REJECTED,
            INTAKE_PAYLOADS_FAILED,
        ):
            registry.register(collector)
    registry.register(IncidentCollector())
    for collector in (SlaBreachCollector(), BeatHeartbeatCollector(), QueueCollector()):
        registry.register(_Guarded(collector))
    for collector in _registered:
        registry.register(_Guarded(collector))
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
