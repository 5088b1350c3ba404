"""Scenario traces for the tracing collector, in Jaeger's JSON model, relative to the end of the incident window.

Each scenario is one service; the incident window is the hour before ``end``
and the baseline the hour before that. Traces are spread evenly over each hour.
"""

from datetime import datetime, timedelta

from tests.jaeger_api import TraceBuilder

SLOW_STATEMENT = (
    "SELECT id, title, status, priority, due_date, assignee_id, created_at\n"
    "  FROM tasks WHERE userId = $1 ORDER BY created_at DESC"
)


def _spread(start: datetime, count: int, hour: timedelta = timedelta(hours=1)):
    step = hour / (count + 1)
    return [start + step * (i + 1) for i in range(count)]


def _request(service: str, at: datetime, *, total_ms: float, db_ms: float, statement: str, cache: str = "hit"):
    """A GET /api/tasks: a cache lookup, a query, the rest in the handler."""
    trace = TraceBuilder(at)
    root = trace.span(service, "GET /api/tasks", at_ms=0, ms=total_ms,
                      tags={"span.kind": "server", "http.method": "GET", "http.route": "/api/tasks",
                            "http.status_code": 200})  # fmt: skip
    trace.span(service, "GET", at_ms=2, ms=1.5, parent=root,
               tags={"span.kind": "client", "db.system": "redis", "db.statement": "GET tasks:user:{id}",
                     "cache.hit": cache == "hit", "server.address": "redis-master", "server.port": 6379})  # fmt: skip
    trace.span(service, "pg.query:SELECT", at_ms=5, ms=db_ms, parent=root,
               tags={"span.kind": "client", "db.system": "postgresql", "db.name": "tasks",
                     "db.statement": statement, "db.user": "task_app", "net.peer.name": "postgres-primary",
                     "net.peer.port": 5432})  # fmt: skip
    return trace.json()


def healthy(service: str, end: datetime) -> list[dict]:
    """Fast requests before and during the window: nothing slow, no errors, the cache hits."""
    traces = []
    for i, at in enumerate(_spread(end - timedelta(hours=2), 120, timedelta(hours=2))):
        traces.append(_request(service, at, total_ms=120 + (i % 7) * 15, db_ms=18, statement=SLOW_STATEMENT))
    return traces


def slow_db(service: str, end: datetime) -> list[dict]:
    """Baseline fast; in the window a third of the requests wait seconds on the same query."""
    traces = [
        _request(service, at, total_ms=150 + (i % 5) * 10, db_ms=25, statement=SLOW_STATEMENT)
        for i, at in enumerate(_spread(end - timedelta(hours=2), 60))
    ]
    for i, at in enumerate(_spread(end - timedelta(hours=1), 60)):
        if i % 3 == 0:
            db_ms = 2000 + i * 25
            traces.append(_request(service, at, total_ms=db_ms + 180, db_ms=db_ms, statement=SLOW_STATEMENT))
        else:
            traces.append(_request(service, at, total_ms=160, db_ms=30, statement=SLOW_STATEMENT))
    return traces


def slow_external(service: str, end: datetime) -> list[dict]:
    """Checkout calls payments-api; in the window half the calls hang until a 5 s timeout and fail."""
    traces = []
    for phase, start in (("before", end - timedelta(hours=2)), ("during", end - timedelta(hours=1))):
        for i, at in enumerate(_spread(start, 40)):
            timing_out = phase == "during" and i % 2 == 0
            call_ms = 5000 if timing_out else 90
            trace = TraceBuilder(at)
            root = trace.span(service, "POST /api/checkout", at_ms=0, ms=call_ms + 60,
                              tags={"span.kind": "server", "http.method": "POST", "http.route": "/api/checkout",
                                    "http.status_code": 504 if timing_out else 200, "error": timing_out})  # fmt: skip
            insert = "INSERT INTO orders (id, user_id, total) VALUES ($1, $2, $3)"
            trace.span(service, "pg.query:INSERT", at_ms=3, ms=8, parent=root,
                       tags={"span.kind": "client", "db.system": "postgresql", "db.statement": insert})  # fmt: skip
            tags = {"span.kind": "client", "http.method": "POST", "peer.service": "payments-api",
                    "http.url": "https://payments.internal/v1/charges"}  # fmt: skip
            logs = None
            if timing_out:
                tags |= {"error": True, "otel.status_code": "ERROR"}
                message = "ETIMEDOUT: request to payments-api timed out after 5000 ms"
                logs = [{"event": "exception", "exception.type": "TimeoutError", "exception.message": message}]
            else:
                tags["http.status_code"] = 200
            call = trace.span(service, "POST", at_ms=15, ms=call_ms, parent=root, tags=tags, logs=logs)
            if not timing_out:
                trace.span("payments-api", "POST /v1/charges", at_ms=20, ms=70, parent=call,
                           tags={"span.kind": "server", "http.status_code": 200})  # fmt: skip
            traces.append(trace.json())
    return traces


def cache_miss_storm(service: str, end: datetime) -> list[dict]:
    """Catalog pages read 30 products each: from Redis before; in the window every lookup misses and hits the DB."""
    traces = []
    for phase, start in (("before", end - timedelta(hours=2)), ("during", end - timedelta(hours=1))):
        for at in _spread(start, 30):
            trace = TraceBuilder(at)
            miss = phase == "during"
            cursor = 2.0
            children = []
            for n in range(30):
                children.append(("GET", cursor, 1.0 if not miss else 2.0,
                                 {"span.kind": "client", "db.system": "redis", "db.statement": f"GET product:{n}",
                                  "cache.hit": not miss}))  # fmt: skip
                cursor += 1.5 if not miss else 2.5
                if miss:
                    children.append(("pg.query:SELECT", cursor, 35.0,
                                     {"span.kind": "client", "db.system": "postgresql",
                                      "db.statement": "SELECT * FROM products WHERE id = $1"}))  # fmt: skip
                    cursor += 36
            root = trace.span(service, "GET /api/catalog", at_ms=0, ms=cursor + 5,
                              tags={"span.kind": "server", "http.status_code": 200})  # fmt: skip
            for operation, at_ms, ms, tags in children:
                trace.span(service, operation, at_ms=at_ms, ms=ms, parent=root, tags=tags)
            traces.append(trace.json())
    return traces


def quiet(service: str, end: datetime) -> list[dict]:
    """Traces only long before the window: the service is known to Jaeger, the window is empty."""
    return [
        _request(service, at, total_ms=100, db_ms=10, statement="SELECT 1")
        for at in _spread(end - timedelta(hours=6), 5)
    ]


def slow_handler(service: str, end: datetime) -> list[dict]:
    """Reports render for seconds in the service's own code: its queries and calls stay fast."""
    traces = []
    for phase, start in (("before", end - timedelta(hours=2)), ("during", end - timedelta(hours=1))):
        for at in _spread(start, 20):
            render_ms = 1800 if phase == "during" else 80
            trace = TraceBuilder(at)
            root = trace.span(service, "GET /api/reports", at_ms=0, ms=render_ms + 40,
                              tags={"span.kind": "server", "http.status_code": 200})  # fmt: skip
            trace.span(service, "pg.query:SELECT", at_ms=2, ms=12, parent=root,
                       tags={"span.kind": "client", "db.system": "postgresql",
                             "db.statement": "SELECT * FROM reports WHERE id = $1"})  # fmt: skip
            trace.span(service, "render report", at_ms=20, ms=render_ms, parent=root, tags={"span.kind": "internal"})
            traces.append(trace.json())
    return traces
