"""Recorded diagnostic runs for the demo seed: what the collectors found on two seeded incidents.

The demo runs with no outside system, so nothing can be inspected live. Instead
``seed_demo`` hands over its incidents (``incidents.demo.seeded``) and this
module stores runs recorded from a cluster like the seed's: findings in the
shape the collectors write, Prometheus series for the charts, log lines read
by the real log-pattern analyzer, traces and probe answers judged by the real
tracing and HTTP collectors' checks, and runbook links. Each run has the trigger
``recorded_demo``, which the page labels "Recorded demo data"; none of them
pretends to be live, and a person's "Run" on these incidents finds no target.
The likely causes are then computed from these findings by the real rules.

- ``pool``: the P0 "DB connection pool exhausted" — PostgreSQL, Prometheus,
  Kubernetes, traces and HTTP probe runs that agree: the autoscaler doubled the
  pods, each with a pool of 12, and sessions left idle in transaction hold the
  rest; requests wait in PostgreSQL for a connection and the health check
  answers 503.
- ``crashloop``: a deploy whose pods crash at start (a missing Secret key),
  the Kubernetes collector's CrashLoopBackOff story.
"""

import json
import math
import random
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db import transaction

from diagnostics.collectors import logs
from diagnostics.collectors.base import Collector, TargetSpec, Window
from diagnostics.collectors.http import CONNECT, DNS, REQUEST, STATUS, HttpCollector, Probe, ProbeResult, excerpt
from diagnostics.collectors.tracing import Session, Span, Trace, TracingCollector
from diagnostics.hypotheses import hypotheses_recompute
from diagnostics.models import DiagnosticRun, RunStatus, RunTrigger
from diagnostics.services import DIAGNOSTICS_ACTOR, timeline_summary
from incidents.models import Incident, TimelineKind
from incidents.timeline import timeline_entry_add

RECORDED_NOTE = "Recorded demo data"
STEP = 15  # seconds between recorded samples
BASELINE = timedelta(minutes=30)


def record(incidents: dict[str, Incident]) -> None:
    """Store the recorded runs of the seeded incidents that have a story here (``pool``, ``crashloop``)."""
    if "pool" in incidents:
        _store(incidents["pool"], pool_runs(incidents["pool"].detected_at))
    if "crashloop" in incidents:
        _store(incidents["crashloop"], crashloop_runs(incidents["crashloop"].detected_at))


def _store(incident: Incident, runs: list[dict]) -> None:
    """Each run, finished and on the timeline at the moment it was recorded."""
    if DiagnosticRun.objects.filter(incident=incident, trigger=RunTrigger.RECORDED_DEMO).exists():
        return
    for spec in runs:
        finished = spec["finished_at"]
        with transaction.atomic():
            run = DiagnosticRun.objects.create(
                incident=incident,
                collector=spec["collector"],
                target_name=spec["target_name"],
                status=RunStatus.SUCCEEDED,
                trigger=RunTrigger.RECORDED_DEMO,
                started_at=finished - timedelta(seconds=spec["seconds"]),
                claimed_at=finished - timedelta(seconds=spec["seconds"]),
                finished_at=finished,
                window_start=incident.detected_at,
                window_end=finished,
                attempts=1,
                checks_total=spec["checks"],
                checks_done=spec["checks"],
                findings=spec["findings"],
            )
            text, data = timeline_summary(run)
            entry = timeline_entry_add(
                incident=incident,
                kind=TimelineKind.DIAGNOSTIC,
                actor=DIAGNOSTICS_ACTOR,
                text=f"{RECORDED_NOTE} — {text}",
                data=data | {"recorded_demo": True},
                at=finished,
            )
            DiagnosticRun.objects.filter(pk=run.pk).update(
                attached_at=finished, timeline_entry=entry, created_at=run.started_at
            )
    # What the worker does after each run: the likely causes, from the recorded findings.
    hypotheses_recompute(incident_id=incident.pk, now=max(spec["finished_at"] for spec in runs))


# Building findings ------------------------------------------------------------------------


def _finding(check, status, summary, *, subject="", query="", observed=None, threshold=None, unit="", **more):
    evidence = {"query": query, "observed": observed, "threshold": threshold, "unit": unit}
    for key in ("table", "series", "range"):
        if key in more:
            evidence[key] = more[key]
    ok = status == "ok"
    return {
        "check": check,
        "status": status,
        "summary": summary,
        "subject": subject,
        "evidence": evidence,
        "remediation": "" if ok else more.get("remediation", ""),
        "runbook": None if ok else more.get("runbook"),
    }


def _series(start: datetime, end: datetime, value) -> list[list[float]]:
    """Samples every STEP seconds from ``start`` to ``end``; ``value(minutes since start, i)`` gives each one."""
    points, t, i = [], start.timestamp(), 0
    while t <= end.timestamp():
        points.append([t, round(value((t - start.timestamp()) / 60, i), 6)])
        t += STEP
        i += 1
    return points


def _wobble(i: int, amount: float) -> float:
    """A repeatable ripple, so recorded lines look measured rather than drawn with a ruler."""
    return amount * (math.sin(i * 1.7) + 0.5 * math.sin(i * 0.45))


def _range(detected: datetime, end: datetime, **extra) -> dict:
    return {
        "start": detected.isoformat(),
        "end": end.isoformat(),
        "baseline_start": (detected - BASELINE).isoformat(),
        "incident_start": detected.isoformat(),
        "step": STEP,
    } | extra


def _log_findings(lines: list[str], *, pod: str, namespace: str, previous: bool) -> list[dict]:
    """The log-pattern analyzer's findings for recorded log lines, as the Kubernetes collector reports them."""
    query = f"kubectl logs {pod} -c app -n {namespace} --tail=500" + (" --previous" if previous else "")
    found = []
    for finding in logs.findings_from_logs(logs.analyze(lines), source=f"{pod}/app", check_prefix="kubernetes.logs"):
        finding.evidence.query = query
        found.append(finding.to_dict())
    return found


# The pool story -----------------------------------------------------------------------------


def pool_runs(detected: datetime) -> list[dict]:
    finished = detected + timedelta(minutes=10)
    traced, probed = finished + timedelta(seconds=8), finished + timedelta(seconds=9)
    return [
        {
            "collector": "postgres",
            "target_name": "task-db",
            "seconds": 4,
            "checks": 7,
            "finished_at": finished,
            "findings": _pool_postgres(detected, finished),
        },
        {
            "collector": "prometheus",
            "target_name": "task-service-metrics",
            "seconds": 6,
            "checks": 7,
            "finished_at": finished + timedelta(seconds=3),
            "findings": _pool_prometheus(detected, finished),
        },
        {
            "collector": "kubernetes",
            "target_name": "task-service (orion-prod)",
            "seconds": 5,
            "checks": 7,
            "finished_at": finished + timedelta(seconds=5),
            "findings": _pool_kubernetes(detected, finished),
        },
        {
            "collector": "tracing",
            "target_name": "task-service-traces",
            "seconds": 7,
            "checks": len(TracingCollector.checks),
            "finished_at": traced,
            "findings": _pool_tracing(detected, traced),
        },
        {
            "collector": "http",
            "target_name": "task-service-health",
            "seconds": 2,
            "checks": len(HttpCollector.checks),
            "finished_at": probed,
            "findings": _pool_http(detected, probed),
        },
    ]


def _pool_postgres(detected: datetime, at: datetime) -> list[dict]:
    holders = [
        ["task-service", "task_app", "idle in transaction", 52],
        ["task-service", "task_app", "active", 31],
        ["task-service", "task_app", "idle", 13],
        ["orion-diagnostics", "orion_readonly", "active", 1],
    ]
    oldest_idle = 372
    idle_rows = [
        [
            48213 + n,
            "task_app",
            "task-service",
            "idle in transaction",
            oldest_idle - 23 * n,
            oldest_idle - 23 * n + 2,
            'SELECT "id", "status" FROM "tasks" WHERE "user_id" = $1 FOR UPDATE',
        ]
        for n in range(5)
    ]
    return [
        _finding(
            "postgres.connection_saturation",
            "crit",
            "97 of 97 usable connections in use (100.0%): 52 idle in transaction, 32 active, 13 idle",
            subject="tasks",
            unit="%",
            observed=100.0,
            threshold={"warn": 80.0, "crit": 90.0},
            query="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "GROUP BY application_name, usename, state",
            table={"columns": ["application", "user", "state", "connections"], "rows": holders},
            range={"in_use": 97, "usable": 97, "max_connections": 100, "reserved": 3},
            remediation="See who holds the connections (table): 52 sessions idle in transaction keep connections "
            "they do not use. End the oldest with SELECT pg_terminate_backend(pid); and set "
            "idle_in_transaction_session_timeout for task_app. Each pod of this service opens up to 12 connections: "
            "at most 8 pods fit in the 97 usable connections, shared with every other client.",
            runbook="db-connection-pool-exhausted",
        ),
        _finding(
            "postgres.idle_in_transaction",
            "warn",
            f"52 session(s) idle in transaction, oldest idle for 6 min 12 s (pid {idle_rows[0][0]})",
            subject=f"pid {idle_rows[0][0]} task_app@task-service",
            unit="s",
            observed=oldest_idle,
            threshold={"warn": 60, "crit": 600},
            query="SELECT … FROM pg_stat_activity WHERE state = 'idle in transaction'",
            table={
                "columns": ["pid", "user", "application", "state", "idle s", "transaction s", "last query"],
                "rows": idle_rows,
            },
            remediation="A session idle in a transaction keeps its connection, its locks and its snapshot. The last "
            "query is a SELECT … FOR UPDATE: look for the code path that locks a task row and then waits (a network "
            f"call inside the transaction). End it now with SELECT pg_terminate_backend({idle_rows[0][0]});",
            runbook="db-connection-pool-exhausted",
        ),
        _finding(
            "postgres.blocked_queries",
            "warn",
            f"9 queries waiting on locks, longest for 48 s, blocked by pid {idle_rows[0][0]} (idle in transaction)",
            subject=f"pid {idle_rows[0][0]}",
            unit="s",
            observed=48,
            threshold={"warn": 30, "crit": 300},
            query="SELECT … FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0",
            table={
                "columns": ["pid", "waiting s", "blocked by", "query"],
                "rows": [
                    [48390 + n, 48 - 5 * n, idle_rows[0][0], 'UPDATE "tasks" SET "status" = $1 WHERE "id" = $2']
                    for n in range(4)
                ],
            },
            remediation="The blockers hold row locks while idle in transaction: ending them releases the waiters.",
            runbook="db-connection-pool-exhausted",
        ),
        _finding(
            "postgres.long_running_queries",
            "ok",
            "No query running longer than 30 s",
            subject="tasks",
            unit="s",
            observed=3.2,
            threshold={"warn": 30, "crit": 300},
            query="SELECT … FROM pg_stat_activity WHERE state = 'active'",
        ),
        _finding(
            "postgres.slow_queries",
            "ok",
            "Slowest statement averages 41 ms (pg_stat_statements)",
            subject="tasks",
            unit="ms",
            observed=41,
            threshold={"warn": 500, "crit": 2000},
            query="SELECT … FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10",
        ),
        _finding(
            "postgres.cache_hit_rate",
            "ok",
            "Cache hit rate 99.6%",
            subject="tasks",
            unit="%",
            observed=99.6,
            threshold={"warn": 95, "crit": 90},
            query="SELECT sum(blks_hit) / sum(blks_hit + blks_read) FROM pg_stat_database",
        ),
        _finding(
            "postgres.xid_wraparound",
            "ok",
            "Oldest transaction ID is 3% of the way to wraparound",
            subject="tasks",
            unit="%",
            observed=3.1,
            threshold={"warn": 50, "crit": 80},
            query="SELECT max(age(datfrozenxid)) FROM pg_database",
        ),
    ]


def _pool_prometheus(detected: datetime, end: datetime) -> list[dict]:
    start = detected - BASELINE
    base_minutes = BASELINE.total_seconds() / 60

    def error_ratio(m, i):
        if m < base_minutes - 1:
            return 0.003 + abs(_wobble(i, 0.0008))
        return min(0.124, 0.02 + (m - base_minutes + 1) * 0.03) + _wobble(i, 0.004)

    def p95(m, i):
        return 0.12 + abs(_wobble(i, 0.01)) if m < base_minutes - 2 else min(10.0, 2.5 + (m - base_minutes + 2) * 2.2)

    def p99(m, i):
        return 0.31 + abs(_wobble(i, 0.03)) if m < base_minutes - 2 else 10.0

    def rate(m, i):
        return 402 + _wobble(i, 9) + (m / base_minutes) * 6

    def cpu(m, i):
        return 0.42 + _wobble(i, 0.03) + (0.2 if m > base_minutes - 8 else 0)

    query_sel = 'service="task-service"'
    return [
        _finding(
            "prometheus.error_rate",
            "crit",
            f"5xx ratio peaked at 12.4% at {(detected + timedelta(minutes=4)):%H:%M} (baseline 0.3%); above 1.0% "
            f"since {(detected - timedelta(seconds=30)):%H:%M}",
            subject=query_sel,
            unit="ratio",
            observed=0.124,
            threshold=0.05,
            query=f'(sum(rate(http_requests_total{{{query_sel},status=~"5.."}}[5m])) or vector(0)) / '
            f"sum(rate(http_requests_total{{{query_sel}}}[5m]))",
            series=[{"name": "5xx ratio", "points": _series(start, end, error_ratio)}],
            range=_range(detected, end, baseline=0.003, suggested_severity="P1"),
            remediation="Group the errors in the logs (the log findings name Prisma P2024, the pool timeout): the "
            "requests fail waiting for a database connection, not in the code.",
            runbook="high-error-rate",
        ),
        _finding(
            "prometheus.latency",
            "crit",
            "P95 latency peaked at 10.00 s vs 120 ms before (83.3×); P99 10.00 s — the pool timeout",
            subject=query_sel,
            unit="seconds",
            observed=10.0,
            threshold=0.6,
            query="histogram_quantile(0.95, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{query_sel}}}[5m])))",
            series=[
                {"name": "P95", "points": _series(start, end, p95)},
                {"name": "P99", "points": _series(start, end, p99)},
            ],
            range=_range(detected, end, baseline=0.12),
            remediation="Requests wait the whole 10 s pool timeout before failing: free connections first.",
            runbook="db-connection-pool-exhausted",
        ),
        _finding(
            "prometheus.request_rate",
            "ok",
            "Request rate 408 req/s vs 402 before (+1.5%): no traffic spike",
            subject=query_sel,
            unit="req/s",
            observed=408,
            query=f"sum(rate(http_requests_total{{{query_sel}}}[5m]))",
            series=[{"name": "requests/s", "points": _series(start, end, rate)}],
            range=_range(detected, end, baseline=402),
        ),
        _finding(
            "prometheus.cpu_saturation",
            "ok",
            "CPU at 62% of the pods' limits at peak",
            subject=query_sel,
            unit="ratio",
            observed=0.62,
            threshold=0.8,
            query='sum(rate(container_cpu_usage_seconds_total{container="app",pod=~"task-service-.*"}[5m])) / '
            'sum(kube_pod_container_resource_limits{resource="cpu",pod=~"task-service-.*"})',
            series=[{"name": "CPU / limit", "points": _series(start, end, cpu)}],
            range=_range(detected, end),
        ),
        _finding(
            "prometheus.memory_leak",
            "ok",
            "Working set flat: +1.2 MiB/h, no leak",
            subject=query_sel,
            unit="bytes/h",
            observed=1258291,
            query='sum(container_memory_working_set_bytes{container="app"})',
        ),
        _finding(
            "prometheus.memory_vs_limit",
            "ok",
            "Memory at 41% of the limit",
            subject=query_sel,
            unit="ratio",
            observed=0.41,
            threshold=0.9,
            query="container_memory_working_set_bytes / limits",
        ),
        _finding(
            "prometheus.cpu_throttling",
            "ok",
            "CPU throttled 0.4% of periods",
            subject=query_sel,
            unit="ratio",
            observed=0.004,
            threshold=0.25,
            query="container_cpu_cfs_throttled_periods_total / container_cpu_cfs_periods_total",
        ),
    ]


def _pool_log_lines(detected: datetime) -> list[str]:
    lines = []
    for n in range(60):
        at = detected + timedelta(seconds=9 * n)
        lines.append(f'{{"level":"info","time":"{at.isoformat()}","msg":"GET /api/tasks 200","ms":{80 + n % 7}}}')
        if n % 3 == 0:
            lines.append(
                f'{{"level":"error","time":"{at.isoformat()}","msg":"Invalid `prisma.task.findMany()` invocation: '
                "Timed out fetching a new connection from the connection pool. More info: "
                'http://pris.ly/d/connection-pool (Current connection pool timeout: 10, connection limit: 12)",'
                '"code":"P2024"}'
            )
        if n % 10 == 4:
            lines.append(
                f'{{"level":"warn","time":"{at.isoformat()}","msg":"slow request: POST /api/tasks took 10021 ms"}}'
            )
    return lines


def _pool_kubernetes(detected: datetime, at: datetime) -> list[dict]:
    pod = "task-service-7d9f6c5b8-x2k4q"
    pods = [
        [f"task-service-7d9f6c5b8-{suffix}", "Running", ready, 0, node]
        for suffix, ready, node in [
            ("x2k4q", "0/1", "node-a"),
            ("m8t2z", "0/1", "node-b"),
            ("c4w7p", "1/1", "node-a"),
            ("h5r9d", "1/1", "node-c"),
            ("q1n6v", "0/1", "node-b"),
            ("z7b3k", "1/1", "node-c"),
            ("p9f2s", "1/1", "node-a"),
            ("k3j8m", "1/1", "node-b"),
        ]
    ]
    scaled = detected - timedelta(minutes=6)
    return [
        _finding(
            "kubernetes.pods",
            "warn",
            f"{pod}/app is running but not ready: Readiness probe failed: HTTP probe failed with statuscode: 503",
            subject=pod,
            query=f"kubectl describe pod {pod} -n orion-prod",
            observed="NotReady",
            table={"columns": ["pod", "phase", "ready", "restarts", "node"], "rows": pods},
            remediation="The readiness probe checks the database: pods drop out of the Service while the pool is "
            "exhausted, and the rest take their load.",
        ),
        _finding(
            "kubernetes.hpa",
            "warn",
            f"HPA task-service scaled from 4 to 8 replicas at {scaled:%H:%M} (CPU 84% of the 70% target): 8 pods × "
            "12 connections = 96 of 97 usable",
            subject="task-service",
            query="kubectl get hpa task-service -n orion-prod -o yaml",
            observed=8,
            threshold={"max_replicas": 8},
            table={
                "columns": ["time", "replicas", "reason"],
                "rows": [
                    [(scaled - timedelta(hours=3)).isoformat(), 4, "steady"],
                    [scaled.isoformat(), 8, "cpu resource utilization above target"],
                ],
            },
            remediation="More pods mean more pool connections: before scaling out again, lower connection_limit or "
            "put PgBouncer in front; the Mitigate panel warns when replicas × pool exceed the database's free slots.",
            runbook="db-connection-pool-exhausted",
        ),
        _finding(
            "kubernetes.events",
            "warn",
            "14 Unhealthy events (readiness probe) in the last 10 min",
            subject="task-service",
            query="kubectl get events -n orion-prod --field-selector involvedObject.kind=Pod",
            observed=14,
            table={
                "columns": ["last seen", "type", "reason", "object", "count", "message"],
                "rows": [
                    [
                        (at - timedelta(seconds=20)).isoformat(),
                        "Warning",
                        "Unhealthy",
                        f"pod/{pod}",
                        9,
                        "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    ],
                    [
                        scaled.isoformat(),
                        "Normal",
                        "SuccessfulRescale",
                        "hpa/task-service",
                        1,
                        "New size: 8; reason: cpu resource utilization (percentage of request) above target",
                    ],
                ],
            },
            remediation="The probe failures follow the database: see the PostgreSQL findings.",
        ),
        *_log_findings(_pool_log_lines(detected), pod=pod, namespace="orion-prod", previous=False),
        _finding(
            "kubernetes.top",
            "ok",
            "CPU at 61% and memory at 40% of the limits (highest pod)",
            subject="task-service",
            query="kubectl top pods -n orion-prod -l app=task-service",
            observed=61,
            unit="%",
            threshold={"warn": 80, "crit": 95},
        ),
        _finding(
            "kubernetes.deployment",
            "ok",
            "task-service: 8 of 8 replicas updated; no rollout in the last 24 h",
            subject="task-service",
            query="kubectl get deployment task-service -n orion-prod",
            observed=8,
        ),
        _finding(
            "kubernetes.endpoints",
            "warn",
            "Service task-service has 5 ready endpoints of 8",
            subject="task-service",
            query="kubectl get endpoints task-service -n orion-prod",
            observed=5,
            threshold={"expected": 8},
            remediation="Not-ready pods are out of the Service; they come back when the probe passes.",
        ),
    ]


# The pool story, as the tracing and HTTP collectors judge it ----------------------------------------

JAEGER = "http://jaeger-query.observability:16686"
TASKS_QUERY = "SELECT * FROM tasks WHERE user_id = $1 ORDER BY created_at DESC"
POOL_TIMEOUT = "timeout acquiring connection from pool (12/12 in use)"
POOL_TIMEOUT_MS = 10_000  # the client's pool timeout: a request gives up waiting for a connection after it
TRACE_EVERY = timedelta(seconds=10)  # one sampled request per interval, steady before and during the incident
SLOWDOWN = timedelta(minutes=2)  # how long before the alert the waits began, as the recorded P95 shows
TASK_SERVICE = "http://task-service.orion-prod.svc"
TASK_SERVICE_IP = "10.96.112.40"


def _checked(collector: Collector, session, window: Window) -> list[dict]:
    """Every check of ``collector`` on ``session``, run and stored the way the engine runs and stores them."""
    return [finding.to_dict() for name in collector.checks for finding in collector.run_check(name, session, window)]


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class RecordedTraces:
    """A ``TraceSource`` over recorded traces, answering each search as Jaeger's query API would."""

    name = "Jaeger"

    def __init__(self, traces: list[Trace], *, ui_url: str):
        self.traces = traces
        self.ui_url = ui_url
        self.last_query = ""

    def services(self) -> list[str]:
        self.last_query = "GET /api/services"
        return sorted({span.service for trace in self.traces for span in trace.spans})

    def search(
        self, *, service: str, start: datetime, end: datetime, limit: int, min_duration_ms: int | None = None
    ) -> list[Trace]:
        params = {"service": service, "start": _micros(start), "end": _micros(end), "limit": limit}
        if min_duration_ms:
            params["minDuration"] = f"{min_duration_ms}ms"
        self.last_query = f"GET /api/traces?{urlencode(params)}"
        low, high, longest = _micros(start), _micros(end), (min_duration_ms or 0) * 1000
        found = [
            trace
            for trace in self.traces
            if any(
                span.service == service and low <= span.start_us <= high and span.duration_us >= longest
                for span in trace.spans
            )
        ]
        # Jaeger answers newest first and stops at the limit.
        return sorted(found, key=lambda trace: trace.start_us, reverse=True)[:limit]

    def trace_url(self, trace_id: str) -> str:
        return f"{self.ui_url}/trace/{trace_id}"

    def close(self) -> None:
        pass  # nothing held open


def _pool_traces(start: datetime, end: datetime, slowdown: datetime) -> list[Trace]:
    """task-service's sampled requests from ``start`` to ``end``; from ``slowdown`` on they wait for connections."""
    rng = random.Random(2024)  # the same traces, ids included, every time the demo is seeded
    traces, at = [], start
    while at <= end:
        traces.append(_task_request(rng, at, starved=at >= slowdown))
        at += TRACE_EVERY
    return traces


def _connection_wait_ms(rng: random.Random, starved: bool) -> float:
    """How long a request waits for a pooled connection; while the pool is starved, many wait seconds or give up."""
    if not starved:
        return rng.uniform(0.1, 2)
    roll = rng.random()
    if roll < 0.14:
        return POOL_TIMEOUT_MS
    if roll < 0.45:
        return rng.uniform(1200, 9500)
    return rng.uniform(5, 400)


def _task_request(rng: random.Random, at: datetime, *, starved: bool) -> Trace:
    """GET /api/tasks: the session from Redis, the user's tasks from PostgreSQL, the rest in the handler.

    The PostgreSQL span includes the wait for a pooled connection, as the client's instrumentation measures it.
    """
    wait_ms = _connection_wait_ms(rng, starved)
    timed_out = wait_ms >= POOL_TIMEOUT_MS
    db_ms = wait_ms + (0 if timed_out else rng.uniform(8, 30))
    cache_ms, handler_ms = rng.uniform(0.4, 1.6), rng.uniform(25, 70)
    trace_id = f"{rng.getrandbits(128):032x}"
    root_id, cache_id, db_id = (f"{rng.getrandbits(64):016x}" for _ in range(3))
    begin = _micros(at)

    def us(ms: float) -> int:
        return int(ms * 1000)

    failed = {"error": True, "otel.status_code": "ERROR"} if timed_out else {}
    root = Span(
        span_id=root_id,
        parent_id=None,
        service="task-service",
        operation="GET /api/tasks",
        start_us=begin,
        duration_us=us(3 + db_ms + handler_ms),
        tags={
            "span.kind": "server",
            "http.method": "GET",
            "http.route": "/api/tasks",
            "http.status_code": 500 if timed_out else 200,
        }
        | failed,
    )
    cache = Span(
        span_id=cache_id,
        parent_id=root_id,
        service="task-service",
        operation="GET",
        start_us=begin + us(1),
        duration_us=us(cache_ms),
        tags={
            "span.kind": "client",
            "db.system": "redis",
            "db.statement": f"GET session:{rng.randrange(10_000, 99_999)}",
            "cache.hit": rng.random() > 0.05,
            "net.peer.name": "redis-master.orion-prod.svc",
            "net.peer.port": 6379,
        },
    )
    db = Span(
        span_id=db_id,
        parent_id=root_id,
        service="task-service",
        operation="SELECT tasks",
        start_us=begin + us(3),
        duration_us=us(db_ms),
        tags={
            "span.kind": "client",
            "db.system": "postgresql",
            "db.name": "tasks",
            "db.user": "task_app",
            "db.statement": TASKS_QUERY,
            "net.peer.name": "task-db.orion-prod.svc",
            "net.peer.port": 5432,
        }
        | failed,
        logs=({"event": "exception", "exception.type": "PoolTimeoutError", "exception.message": POOL_TIMEOUT},)
        if timed_out
        else (),
    )
    return Trace(trace_id=trace_id, spans=(root, cache, db))


def _pool_tracing(detected: datetime, at: datetime) -> list[dict]:
    """The tracing collector's four checks on the recorded traces, over the run's window and the hour before."""
    collector = TracingCollector()
    window = Window(start=detected, now=at)
    # The baseline the collector's own session takes: the window's length before it, at least its minimum.
    length = max(window.seconds, float(collector.config.baseline_min_seconds))
    baseline = Window(start=detected - timedelta(seconds=length), now=detected)
    source = RecordedTraces(_pool_traces(baseline.start, at, detected - SLOWDOWN), ui_url=JAEGER)
    session = Session(
        source=source,
        service="task-service",
        min_duration_ms=collector.config.min_duration_ms,
        window=window,
        baseline=baseline,
        limit=collector.config.search_limit,
        known_services=source.services(),
    )
    return _checked(collector, session, window)


class RecordedProbes:
    """The probe session the HTTP collector's checks read: the answers, already received."""

    def __init__(self, results: list[ProbeResult]):
        self.results = results
        self.last_query = ""


def _answer(probe: Probe, status: int, reason: str, body: str, timings: dict[str, float]) -> ProbeResult:
    """What one GET of ``probe`` got, in the collector's terms: a 503 fails at the status step."""
    result = ProbeResult(
        probe=probe,
        host="task-service.orion-prod.svc",
        port=80,
        addresses=[TASK_SERVICE_IP],
        address=TASK_SERVICE_IP,
        timings=timings,
        status_code=status,
        reason=reason,
        body=body,
    )
    if status == 503:
        result.step, result.error_code, result.error = STATUS, "HTTP_503", f"{status} {reason}"
    return result


def _pool_http(detected: datetime, at: datetime) -> list[dict]:
    """The HTTP collector's checks on two answers of task-service: alive, but its health check fails on the pool."""
    collector = HttpCollector()
    target = TargetSpec(
        kind="http",
        name="task-service-health",
        config={"urls": [f"{TASK_SERVICE}/health", f"{TASK_SERVICE}/livez"]},
    )
    health, alive = collector.probes_for(target)

    def body(document: dict) -> str:
        return excerpt(json.dumps(document).encode(), collector.config.body_excerpt_chars)

    unhealthy = body(
        {
            "status": "fail",
            "checks": {"database": {"status": "fail", "output": POOL_TIMEOUT}, "redis": {"status": "pass"}},
        }
    )
    # The health check gives up on the pool after 500 ms, inside the kubelet's 1 s probe timeout.
    results = [
        _answer(health, 503, "Service Unavailable", unhealthy, {DNS: 1.4, CONNECT: 0.8, REQUEST: 503.6}),
        _answer(alive, 200, "OK", body({"status": "pass"}), {DNS: 1.1, CONNECT: 0.7, REQUEST: 2.3}),
    ]
    return _checked(collector, RecordedProbes(results), Window(start=detected, now=at))


# The CrashLoopBackOff story ------------------------------------------------------------------------


def crashloop_runs(detected: datetime) -> list[dict]:
    finished = detected + timedelta(minutes=2)
    return [
        {
            "collector": "kubernetes",
            "target_name": "notification-service (orion-prod)",
            "seconds": 4,
            "checks": 7,
            "finished_at": finished,
            "findings": _crashloop_kubernetes(detected, finished),
        },
    ]


def _crashloop_log_lines(started: datetime) -> list[str]:
    at = started.strftime("%Y-%m-%dT%H:%M:%S")
    return [
        f"{at}.102Z INFO  notification-service 2026.12.1 starting (node v20.11.1)",
        f"{at}.145Z INFO  loading configuration from environment",
        f"{at}.151Z ERROR Missing required environment variable SMTP_PASSWORD (secret notification-smtp, key password)",
        f"{at}.152Z ERROR Error: Configuration invalid: SMTP_PASSWORD is not set",
        f"{at}.152Z ERROR     at loadConfig (/app/dist/config.js:41:11)",
        f"{at}.153Z WARN  connect ECONNREFUSED 10.96.41.7:6379 (redis queue not reached before exit)",
        f"{at}.160Z INFO  exiting with code 1",
    ]


def _crashloop_kubernetes(detected: datetime, at: datetime) -> list[dict]:
    new_rs, old_rs = "notification-service-6b8f9c7d4", "notification-service-5c7d8b9f6"
    crashing = [f"{new_rs}-2xkqp", f"{new_rs}-9tq5l"]
    rolled = detected - timedelta(minutes=4)
    pods = [
        [crashing[0], "Running", "0/1", 7, "CrashLoopBackOff"],
        [crashing[1], "Running", "0/1", 6, "CrashLoopBackOff"],
        [f"{old_rs}-r4v8n", "Running", "1/1", 0, ""],
        [f"{old_rs}-w2h6c", "Running", "1/1", 0, ""],
    ]
    return [
        *[
            _finding(
                "kubernetes.pods",
                "crit",
                f"{name}/app in CrashLoopBackOff after {restarts} restarts; last exit Error (code 1)",
                subject=name,
                query=f"kubectl describe pod {name} -n orion-prod",
                observed=restarts,
                table={"columns": ["pod", "phase", "ready", "restarts", "waiting"], "rows": pods},
                remediation="Read the previous container's log (the log findings) for why it exits; check config and "
                "dependencies it needs at start.",
                runbook="service-not-starting",
            )
            for name, restarts in ((crashing[0], 7), (crashing[1], 6))
        ],
        _finding(
            "kubernetes.deployment",
            "crit",
            f"Rollout of notification-service stuck: 0 of 2 new pods available; image 2026.11.4 → 2026.12.1 at "
            f"{rolled:%H:%M}, secret key notification-smtp/password referenced since",
            subject="notification-service",
            query="kubectl rollout history deployment notification-service -n orion-prod",
            observed="ProgressDeadlineExceeded",
            table={
                "columns": ["revision", "replica set", "image", "created", "ready"],
                "rows": [
                    [14, new_rs, "registry.example.com/notification-service:2026.12.1", rolled.isoformat(), "0/2"],
                    [
                        13,
                        old_rs,
                        "registry.example.com/notification-service:2026.11.4",
                        (rolled - timedelta(days=9)).isoformat(),
                        "2/2",
                    ],
                ],
            },
            remediation="Roll back (kubectl rollout undo deployment notification-service -n orion-prod) while the "
            "missing key is added, or add the key and restart the rollout.",
            runbook="service-not-starting",
        ),
        _finding(
            "kubernetes.events",
            "warn",
            "31 BackOff events: Back-off restarting failed container app",
            subject="notification-service",
            observed=31,
            query="kubectl get events -n orion-prod --field-selector involvedObject.kind=Pod",
            table={
                "columns": ["last seen", "type", "reason", "object", "count", "message"],
                "rows": [
                    [
                        (at - timedelta(seconds=15)).isoformat(),
                        "Warning",
                        "BackOff",
                        f"pod/{crashing[0]}",
                        18,
                        "Back-off restarting failed container app in pod",
                    ],
                    [
                        (at - timedelta(seconds=40)).isoformat(),
                        "Warning",
                        "BackOff",
                        f"pod/{crashing[1]}",
                        13,
                        "Back-off restarting failed container app in pod",
                    ],
                    [
                        rolled.isoformat(),
                        "Normal",
                        "ScalingReplicaSet",
                        "deployment/notification-service",
                        1,
                        f"Scaled up replica set {new_rs} to 2",
                    ],
                ],
            },
            remediation="The container starts and exits: its previous log says why.",
            runbook="service-not-starting",
        ),
        *_log_findings(
            _crashloop_log_lines(at - timedelta(seconds=50)), pod=crashing[0], namespace="orion-prod", previous=True
        ),
        _finding(
            "kubernetes.endpoints",
            "warn",
            "Service notification-service has 2 ready endpoints of 4",
            subject="notification-service",
            query="kubectl get endpoints notification-service -n orion-prod",
            observed=2,
            threshold={"expected": 4},
            remediation="The old replica set still serves; the new pods never become ready.",
            runbook="service-not-starting",
        ),
        _finding(
            "kubernetes.top",
            "ok",
            "Running pods at 18% CPU and 33% memory of their limits",
            subject="notification-service",
            query="kubectl top pods -n orion-prod -l app=notification-service",
            observed=33,
            unit="%",
            threshold={"warn": 80, "crit": 95},
        ),
        _finding(
            "kubernetes.hpa",
            "ok",
            "No autoscaler for notification-service",
            subject="notification-service",
            query="kubectl get hpa -n orion-prod",
        ),
    ]
