"""A loopback server answering Jaeger's HTTP query API (``/api/services``, ``/api/traces``) from scenario traces.

Responses follow Jaeger's query service: the ``structuredResponse`` envelope
(``data``, ``total``, ``limit``, ``offset``, ``errors``) around traces in its
JSON model (``traceID``, ``spans`` with ``references``, typed ``tags``,
``logs`` and a ``processID``, and ``processes`` naming each service). Searches
filter as Jaeger does: by the service of the spans, span start times between
``start`` and ``end`` (microseconds), ``minDuration`` on a span of that
service, newest traces first, at most ``limit``. A search without ``service``
is a 400 with Jaeger's error shape.

``TraceBuilder`` writes the traces: a root span and children, each with the
tags an OpenTelemetry SDK exports (``span.kind``, ``db.system``,
``db.statement``, ``http.url``, ``peer.service``, ``error``, …).
"""

import itertools
import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_ids = itertools.count(0x1F3A_0000_0000)


def _hex(width: int) -> str:
    return f"{next(_ids):0{width}x}"


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _tag(key: str, value) -> dict:
    kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else (
        "float64" if isinstance(value, float) else "string"
    )  # fmt: skip
    return {"key": key, "type": kind, "value": value}


class TraceBuilder:
    """One trace in Jaeger's JSON model. ``span`` adds a span; offsets and durations are in milliseconds."""

    def __init__(self, start: datetime):
        self.trace_id = _hex(32)
        self.start_us = micros(start)
        self.spans: list[dict] = []
        self.processes: dict[str, dict] = {}

    def _process(self, service: str) -> str:
        for pid, process in self.processes.items():
            if process["serviceName"] == service:
                return pid
        pid = f"p{len(self.processes) + 1}"
        self.processes[pid] = {
            "serviceName": service,
            "tags": [
                _tag("hostname", f"{service}-7d9f4c8b9-x2x7k"),
                _tag("ip", "10.0.3.17"),
                _tag("telemetry.sdk.language", "nodejs"),
                _tag("telemetry.sdk.version", "1.26.0"),
            ],
        }
        return pid

    def span(
        self,
        service: str,
        operation: str,
        *,
        at_ms: float,
        ms: float,
        parent: str | None = None,
        tags: dict | None = None,
        logs: list[dict] | None = None,
    ) -> str:
        span_id = _hex(16)
        start = self.start_us + int(at_ms * 1000)
        self.spans.append(
            {
                "traceID": self.trace_id,
                "spanID": span_id,
                "flags": 1,
                "operationName": operation,
                "references": ([{"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent}] if parent else []),
                "startTime": start,
                "duration": int(ms * 1000),
                "tags": [_tag(k, v) for k, v in (tags or {}).items()],
                "logs": [
                    {"timestamp": start + int(ms * 1000), "fields": [_tag(k, v) for k, v in log.items()]}
                    for log in logs or []
                ],
                "processID": self._process(service),
                "warnings": None,
            }
        )
        return span_id

    def json(self) -> dict:
        return {"traceID": self.trace_id, "spans": self.spans, "processes": self.processes, "warnings": None}


DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
UNIT_US = {"ns": 0.001, "us": 1, "µs": 1, "ms": 1000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}


class JaegerQuery:
    """``with JaegerQuery(traces) as jaeger:`` serves the traces at ``jaeger.url``; ``requests`` records queries."""

    def __init__(self, traces: list[dict], *, failing_storage: frozenset[str] = frozenset()):
        self.traces = traces
        # Services whose searches fail as when Jaeger's storage backend is down: a 500 with Jaeger's errors.
        self.failing_storage = failing_storage
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/api/services":
                    services = sorted({p["serviceName"] for t in owner.traces for p in t["processes"].values()}
                              | owner.failing_storage)  # fmt: skip
                    return self.send(200, {"data": services, "total": len(services), "limit": 0, "offset": 0,
                                           "errors": None})  # fmt: skip
                if parts.path == "/api/traces" and params.get("service") in owner.failing_storage:
                    message = "search services failed: elastic: Error 503 (Service Unavailable)"
                    return self.send(500, {"data": None, "total": 0, "limit": 0, "offset": 0,
                                           "errors": [{"code": 500, "msg": message}]})  # fmt: skip
                if parts.path == "/api/traces":
                    try:
                        found = owner.search(params)
                    except ValueError as exc:
                        return self.send(400, {"data": None, "total": 0, "limit": 0, "offset": 0,
                                               "errors": [{"code": 400, "msg": str(exc)}]})  # fmt: skip
                    return self.send(200, {"data": found, "total": 0, "limit": 0, "offset": 0, "errors": None})
                self.send(404, {"data": None, "total": 0, "limit": 0, "offset": 0,
                                "errors": [{"code": 404, "msg": "404 page not found"}]})  # fmt: skip

            def send(self, status: int, body: dict):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def search(self, params: dict) -> list[dict]:
        service = params.get("service")
        if not service:
            raise ValueError("parameter 'service' is required")
        start, end = int(params.get("start", 0)), int(params.get("end", 2**62))
        limit = int(params.get("limit", 20))
        min_us = 0
        if params.get("minDuration"):
            match = DURATION.match(params["minDuration"])
            if not match:
                raise ValueError(f'cannot not parse minDuration: time: invalid duration "{params["minDuration"]}"')
            min_us = float(match.group(1)) * UNIT_US[match.group(2)]
        found = []
        for trace in self.traces:
            pids = {pid for pid, p in trace["processes"].items() if p["serviceName"] == service}
            own = [s for s in trace["spans"] if s["processID"] in pids]
            if not own or not any(start <= s["startTime"] <= end for s in own):
                continue
            if min_us and not any(s["duration"] >= min_us for s in own):
                continue
            found.append(trace)
        found.sort(key=lambda t: min(s["startTime"] for s in t["spans"]), reverse=True)
        return found[:limit]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
