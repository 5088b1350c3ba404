"""Traces collector: slow traces, where their time goes, cache misses and error spans.

What an engineer does in the Jaeger UI (select the service, set a minimum
duration of 1000 ms, open the slowest traces and look for long database
queries, external calls and cache misses), done over the incident window and
compared with a baseline window just before it.

The trace store sits behind ``TraceSource``: ``search`` for a service's traces
in a time range (optionally only those with a span at least ``min_duration_ms``
long) and ``trace_url`` for a person to open one. ``JaegerSource`` speaks
Jaeger's HTTP query API (``/api/services``, ``/api/traces``); Grafana Tempo's
search API (``/api/search`` then ``/api/traces/<id>``) fits the same two
methods. The checks only see ``Trace`` and ``Span``.

Spans are put in one of four categories by their tags (OpenTelemetry's names
and the older OpenTracing ones): **db** (``db.system`` other than a cache,
statement from ``db.statement`` / ``db.query.text``), **cache** (``db.system``
redis or memcached; a miss is ``cache.hit = false`` or ``cache.miss = true``),
**external** (a client span: ``span.kind = client`` with ``http.url`` /
``url.full`` / ``server.address`` / ``peer.service``, or a span of another
service), and **self**: what is left. Each span counts its *own* time (its
duration minus the time covered by its children), so a trace's time is split
without counting a parent's wait for its children twice.
"""

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urlencode, urlparse

import requests

from diagnostics.collectors.base import (
    NO_SECRETS,
    Collector,
    CollectorConfig,
    CollectorError,
    ConfigurationError,
    Evidence,
    Finding,
    FindingStatus,
    Secrets,
    Table,
    Window,
    grade,
    worst_status,
)
from diagnostics.collectors.logs import normalize

OK, WARN, CRIT = FindingStatus.OK, FindingStatus.WARN, FindingStatus.CRIT

DB, EXTERNAL, CACHE, SELF = "db", "external", "cache", "self"
CATEGORIES = (DB, EXTERNAL, CACHE, SELF)
CACHE_SYSTEMS = {"redis", "memcached", "memcache"}
DB_NAMES = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "mssql": "SQL Server",
    "oracle": "Oracle",
    "sqlite": "SQLite",
    "mongodb": "MongoDB",
    "cassandra": "Cassandra",
    "elasticsearch": "Elasticsearch",
    "redis": "Redis",
    "memcached": "Memcached",
}
TIMEOUT = re.compile(r"time(?:d)?[ _-]?out|ETIMEDOUT|deadline exceeded|DEADLINE_EXCEEDED|\b504\b", re.IGNORECASE)


@dataclass(frozen=True)
class TracingConfig(CollectorConfig):
    """Thresholds and limits; each overridable as ``DIAGNOSTICS_TRACING_<FIELD>``. Ratios are 0–1."""

    min_duration_ms: int = 1000  # a trace this long is slow (the seed's Jaeger search), unless the target says
    slow_share_warn: float = 0.05  # slow traces / all traces in the window, at least
    slow_share_crit: float = 0.2
    p95_ratio_warn: float = 1.5  # P95 trace duration vs the baseline's, at least (when the P95 itself is slow)
    p95_ratio_crit: float = 3.0
    cache_miss_warn: float = 0.5  # cache misses / lookups, at least
    cache_miss_crit: float = 0.8
    cache_min_lookups: int = 20  # fewer lookups are not judged
    error_traces_crit: float = 0.1  # traces with an error span / all traces, at least
    search_limit: int = 500  # traces per search (Jaeger's ``limit``)
    slowest_traces: int = 5  # slow traces broken down span by span
    span_rows: int = 25  # rows of the span table
    statement_chars: int = 120  # a statement is shown this long at most
    baseline_min_seconds: int = 3600  # the baseline is the window's length before it, at least this long
    max_points: int = 120  # per stored series
    request_timeout_seconds: float = 10.0


# The model ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    tags: Mapping[str, Any] = field(default_factory=dict)
    logs: tuple[Mapping[str, Any], ...] = ()

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    def tag(self, *names: str) -> Any:
        return next((self.tags[name] for name in names if self.tags.get(name) not in (None, "")), None)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]

    @property
    def start_us(self) -> int:
        return min(span.start_us for span in self.spans)

    @property
    def duration_us(self) -> int:
        """From the first span's start to the last span's end, as Jaeger shows it."""
        return max(span.end_us for span in self.spans) - self.start_us

    @property
    def root(self) -> Span:
        ids = {span.span_id for span in self.spans}
        roots = [span for span in self.spans if span.parent_id not in ids]
        return min(roots or self.spans, key=lambda span: span.start_us)


class TraceQueryError(Exception):
    """The trace store answered but refused the query (a bad parameter, a storage error)."""


class TraceSource(Protocol):
    """Where traces come from. ``last_query`` describes the latest request, for the evidence."""

    name: str
    last_query: str

    def services(self) -> list[str]: ...

    def search(
        self, *, service: str, start: datetime, end: datetime, limit: int, min_duration_ms: int | None = None
    ) -> list[Trace]: ...

    def trace_url(self, trace_id: str) -> str: ...

    def close(self) -> None: ...


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _tag_values(items: Iterable[Mapping] | None) -> dict[str, Any]:
    return {item["key"]: item.get("value") for item in items or () if isinstance(item, Mapping) and "key" in item}


def jaeger_trace(data: Mapping) -> Trace:
    """A trace of Jaeger's JSON model (``traceID``, ``spans``, ``processes``) as a ``Trace``."""
    processes = {pid: (process or {}).get("serviceName", "") for pid, process in (data.get("processes") or {}).items()}
    spans = []
    for raw in data.get("spans") or ():
        references = raw.get("references") or ()
        parent = next((r["spanID"] for r in references if r.get("refType") == "CHILD_OF"), None)
        parent = parent or next((r["spanID"] for r in references if r.get("refType") == "FOLLOWS_FROM"), None)
        spans.append(
            Span(
                span_id=raw["spanID"],
                parent_id=parent,
                service=processes.get(raw.get("processID"), ""),
                operation=raw.get("operationName", ""),
                start_us=int(raw.get("startTime", 0)),
                duration_us=int(raw.get("duration", 0)),
                tags=_tag_values(raw.get("tags")),
                logs=tuple(_tag_values(log.get("fields")) for log in raw.get("logs") or ()),
            )
        )
    return Trace(trace_id=data["traceID"], spans=tuple(spans))


class JaegerSource:
    """Jaeger's HTTP query API (the one its UI uses, on port 16686)."""

    name = "Jaeger"

    def __init__(
        self, *, url: str, ui_url: str | None = None, headers: Mapping[str, str] | None = None, timeout: float
    ):
        self.url = url.rstrip("/")
        self.ui_url = (ui_url or url).rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers.update(headers or {})
        self.last_query = ""

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.last_query = f"GET {path}" + (f"?{urlencode(params)}" if params else "")
        try:
            response = self.http.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CollectorError(f"Jaeger unreachable at {self.url}: {type(exc).__name__}", permanent=False) from exc
        if response.status_code in (401, 403):
            raise CollectorError(f"Jaeger refused access ({response.status_code})", permanent=True)
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = (body or {}).get("errors") if isinstance(body, dict) else None
        if response.status_code >= 500 and not errors:
            raise CollectorError(f"Jaeger answered {response.status_code}", permanent=False)
        if errors or response.status_code >= 400 or not isinstance(body, dict):
            message = "; ".join(str(e.get("msg", e)) for e in errors) if errors else f"HTTP {response.status_code}"
            raise TraceQueryError(f"Jaeger refused the query: {message[:300]}")
        return body.get("data")

    def services(self) -> list[str]:
        return list(self._get("/api/services") or [])

    def search(
        self, *, service: str, start: datetime, end: datetime, limit: int, min_duration_ms: int | None = None
    ) -> list[Trace]:
        params: dict[str, Any] = {"service": service, "start": _micros(start), "end": _micros(end), "limit": limit}
        if min_duration_ms:
            params["minDuration"] = f"{min_duration_ms}ms"
        return [jaeger_trace(item) for item in self._get("/api/traces", params) or () if item.get("spans")]

    def trace_url(self, trace_id: str) -> str:
        return f"{self.ui_url}/trace/{trace_id}"

    def close(self) -> None:
        self.http.close()


# Reading spans ------------------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _falsy(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def category(span: Span, service: str) -> str:
    system = str(span.tag("db.system") or "").lower()
    if system in CACHE_SYSTEMS:
        return CACHE
    if system:
        return DB
    if span.service and span.service != service:
        return EXTERNAL  # time spent in another service of the trace
    kind = str(span.tag("span.kind") or "").lower()
    remote = span.tag("http.url", "url.full", "server.address", "net.peer.name", "peer.service", "rpc.service")
    if kind in ("client", "producer") or (remote and kind != "server"):
        return EXTERNAL
    return SELF


def truncate_statement(statement: str, limit: int) -> str:
    """A statement on one line, its select list elided (``SELECT … FROM tasks WHERE …``), cut at ``limit``."""
    text = re.sub(r"\s+", " ", statement).strip()
    if len(text) > limit:
        text = re.sub(r"^(SELECT)\s+.+?\s+(FROM\s)", r"\1 … \2", text, count=1, flags=re.IGNORECASE)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def peer(span: Span) -> str:
    """Whom an external call went to: the service, host[:port] or URL host."""
    named = span.tag("peer.service", "rpc.service")
    if named:
        return str(named)
    address = span.tag("server.address", "net.peer.name")
    if address:
        port = span.tag("server.port", "net.peer.port")
        return f"{address}:{port}" if port else str(address)
    url = span.tag("http.url", "url.full")
    if url:
        return urlparse(str(url)).netloc or str(url)
    return span.service or span.operation


def http_status(span: Span) -> int | None:
    status = span.tag("http.status_code", "http.response.status_code")
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def is_error(span: Span) -> bool:
    return _truthy(span.tags.get("error")) or str(span.tags.get("otel.status_code", "")).upper() == "ERROR"


def error_message(span: Span) -> str:
    message = span.tag("error.message", "otel.status_description", "exception.message", "error.object")
    if not message:
        for log in span.logs:
            if str(log.get("event", "")).lower() in ("error", "exception") or "exception.message" in log:
                message = next(
                    (log[k] for k in ("exception.message", "message", "error.object", "error.kind") if log.get(k)),
                    None,
                )
                if message:
                    break
    if not message:
        status = http_status(span)
        message = f"HTTP {status}" if status else span.tag("error.type", "exception.type") or "error"
    return str(message).strip().splitlines()[0][:300]


def cache_result(span: Span) -> str | None:
    """``hit``, ``miss`` or None when the span does not say."""
    if _falsy(span.tags.get("cache.hit")) or _truthy(span.tags.get("cache.miss")):
        return "miss"
    if _truthy(span.tags.get("cache.hit")) or _falsy(span.tags.get("cache.miss")):
        return "hit"
    return None


def self_times(trace: Trace) -> dict[str, int]:
    """Each span's own time in µs: its duration minus the union of its children's, clipped to it."""
    children: dict[str, list[Span]] = defaultdict(list)
    for span in trace.spans:
        if span.parent_id:
            children[span.parent_id].append(span)
    own = {}
    for span in trace.spans:
        covered, cursor = 0, span.start_us
        for child in sorted(children.get(span.span_id, ()), key=lambda c: c.start_us):
            start, end = max(child.start_us, cursor), min(child.end_us, span.end_us)
            if end > start:
                covered += end - start
                cursor = end
        own[span.span_id] = max(span.duration_us - covered, 0)
    return own


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _ms(us: float) -> str:
    ms = us / 1000
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _at(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).strftime("%H:%M:%S")


def _share(value: float) -> str:
    return f"{value * 100:.0f} %"


# The collector ------------------------------------------------------------------------------------


@dataclass
class Session:
    source: TraceSource
    service: str
    min_duration_ms: int
    window: Window
    baseline: Window
    limit: int
    known_services: list[str]

    @property
    def last_query(self) -> str:
        return self.source.last_query

    @property
    def known(self) -> bool:
        return self.service in self.known_services

    @cached_property
    def traces(self) -> list[Trace]:
        """All traces of the service in the incident window (up to the search limit)."""
        return self.source.search(service=self.service, start=self.window.start, end=self.window.now, limit=self.limit)

    @cached_property
    def slow(self) -> list[Trace]:
        """The window's slow traces, slowest first: searched with ``minDuration`` so none is missed to sampling."""
        found = self.source.search(
            service=self.service,
            start=self.window.start,
            end=self.window.now,
            limit=self.limit,
            min_duration_ms=self.min_duration_ms,
        )
        self.slow_query = self.source.last_query
        by_id = {t.trace_id: t for t in found + self.traces if t.duration_us >= self.min_duration_ms * 1000}
        return sorted(by_id.values(), key=lambda t: t.duration_us, reverse=True)

    slow_query: str = ""

    @cached_property
    def baseline_traces(self) -> list[Trace]:
        return self.source.search(
            service=self.service, start=self.baseline.start, end=self.baseline.now, limit=self.limit
        )

    @cached_property
    def seen(self) -> list[Trace]:
        """Every distinct trace of the window: the sample and the slow ones."""
        return list({t.trace_id: t for t in self.traces + self.slow}.values())


class TracingCollector(Collector):
    kind = "tracing"
    config_class = TracingConfig
    config: TracingConfig
    checks = ("slow_traces", "slow_trace_breakdown", "cache_misses", "error_spans")
    soft_time_limit = 60
    time_limit = 90

    def source_for(self, target, secrets: Secrets) -> TraceSource:
        config = target.config
        headers = {}
        if config.get("auth_header_env"):
            if not secrets.get("auth_header"):
                raise ConfigurationError(f"tracing target {target.name}: no value for auth_header_env")
            headers["Authorization"] = secrets["auth_header"]
        return JaegerSource(
            url=config["url"], ui_url=config.get("ui_url"), headers=headers, timeout=self.config.request_timeout_seconds
        )

    @contextmanager
    def open(self, target, window, secrets: Secrets = NO_SECRETS):
        config = target.config
        if not config.get("url") or not config.get("service"):
            raise ConfigurationError(f"tracing target {target.name}: url and service are required")
        source = self.source_for(target, secrets)
        try:
            try:
                known = source.services()
            except TraceQueryError as exc:
                raise CollectorError(str(exc), permanent=False) from exc
            length = max(window.seconds, float(self.config.baseline_min_seconds))
            baseline = Window(start=window.start - timedelta(seconds=length), now=window.start)
            yield Session(
                source=source,
                service=config["service"],
                min_duration_ms=int(config.get("min_duration_ms") or self.config.min_duration_ms),
                window=window,
                baseline=baseline,
                limit=self.config.search_limit,
                known_services=known,
            )
        finally:
            source.close()

    # Helpers ----------------------------------------------------------------------------------

    def _range(self, session: Session, step: float | None = None) -> dict:
        data = {
            "start": session.window.start.isoformat(),
            "end": session.window.now.isoformat(),
            "baseline_start": session.baseline.start.isoformat(),
            "incident_start": session.window.start.isoformat(),
        }
        return data | ({"step": step} if step else {})

    def _unjudgeable(self, name: str, session: Session) -> Finding | None:
        """no_data when the store has nothing to judge: an unknown service, or no trace in the window."""
        if not session.known:
            known = ", ".join(sorted(session.known_services)[:10]) or "none"
            return self.no_data(
                name,
                f"No data: {session.source.name} knows no service named {session.service} (it knows: {known})",
                subject=session.service,
                evidence=Evidence(query=session.last_query, range=self._range(session)),
                remediation="Check the target's service name against the service list in the Jaeger UI, and that "
                "the service exports traces.",
            )
        if not session.seen:
            return self.no_data(
                name,
                f"No data: {session.source.name} has no traces of {session.service} between "
                f"{session.window.start:%H:%M} and {session.window.now:%H:%M} UTC",
                subject=session.service,
                evidence=Evidence(query=session.last_query, observed=0, unit="traces", range=self._range(session)),
                remediation="The service recorded no traces in the window: it may be down, not sampled, or its "
                "exporter cannot reach the collector.",
            )
        return None

    def _links(self, session: Session, traces: Iterable[Trace]) -> tuple[list[str], list[str]]:
        ids = [t.trace_id for t in traces]
        return ids, [session.source.trace_url(i) for i in ids]

    def _p95_series(self, session: Session) -> tuple[list[list[float]], float]:
        """P95 trace duration (seconds) per time bucket over the baseline and the incident window."""
        start, end = session.baseline.start.timestamp(), session.window.now.timestamp()
        step = max(60.0, (end - start) / self.config.max_points)
        buckets: dict[int, list[float]] = defaultdict(list)
        for trace in {t.trace_id: t for t in session.baseline_traces + session.seen}.values():
            buckets[int((trace.start_us / 1e6 - start) // step)].append(trace.duration_us / 1e6)
        points = [
            [start + index * step, round(percentile(values, 0.95), 6)] for index, values in sorted(buckets.items())
        ]
        return points, step

    def _slow_share_status(self, session: Session) -> FindingStatus:
        total = max(len(session.seen), 1)
        return grade(len(session.slow) / total, warn=self.config.slow_share_warn, crit=self.config.slow_share_crit)

    # Checks -----------------------------------------------------------------------------------

    def slow_traces(self, session: Session, window: Window) -> Finding:
        if (absent := self._unjudgeable("slow_traces", session)) is not None:
            return absent
        c = self.config
        slow, total = session.slow, len(session.seen)
        share = len(slow) / total
        p95 = percentile([t.duration_us for t in session.seen], 0.95)
        base_p95 = percentile([t.duration_us for t in session.baseline_traces], 0.95)
        ratio = p95 / base_p95 if base_p95 else None
        status = self._slow_share_status(session)
        if ratio is not None and p95 >= session.min_duration_ms * 1000:
            status = worst_status([status, grade(ratio, warn=c.p95_ratio_warn, crit=c.p95_ratio_crit)])
        sampled = len(session.traces) >= session.limit
        summary = (
            f"{len(slow)} of {'at least ' if sampled else ''}{total} traces ({_share(share)}) took "
            f"≥ {session.min_duration_ms} ms; P95 {_ms(p95)}"
        )
        summary += f" vs {_ms(base_p95)} before ({ratio:.1f}×)" if ratio is not None else " (no baseline traces)"
        shown = slow[: c.slowest_traces * 2]
        ids, urls = self._links(session, shown)
        table = Table(
            columns=["trace", "started", "duration ms", "operation", "spans", "errors", "link"],
            rows=[
                [
                    t.trace_id,
                    _at(t.start_us),
                    round(t.duration_us / 1000),
                    f"{t.root.service}: {t.root.operation}",
                    len(t.spans),
                    sum(1 for s in t.spans if is_error(s)),
                    url,
                ]
                for t, url in zip(shown, urls, strict=True)
            ],
        )
        points, step = self._p95_series(session)
        return self.finding(
            "slow_traces",
            status,
            summary,
            subject=session.service,
            evidence=Evidence(
                query=session.slow_query or session.last_query,
                observed=round(p95 / 1e6, 6),
                threshold=session.min_duration_ms / 1000,
                unit="seconds",
                table=table,
                series=[{"name": "P95 trace duration", "points": points}],
                range=self._range(session, step),
                data={
                    "slow_count": len(slow),
                    "total": total,
                    "sampled": sampled,
                    "share": round(share, 4),
                    "p95_ms": round(p95 / 1000, 1),
                    "baseline_p95_ms": round(base_p95 / 1000, 1) if base_p95 else None,
                    "ratio": round(ratio, 2) if ratio is not None else None,
                    "min_duration_ms": session.min_duration_ms,
                    "trace_ids": ids,
                    "trace_urls": urls,
                },
            ),
            remediation="Open the slowest traces (links in the table) and read the breakdown finding: it says "
            "whether the time goes to the database, an external call, the cache or the service itself.",
            runbook="slow-traces",
        )

    def slow_trace_breakdown(self, session: Session, window: Window) -> Finding:
        if (absent := self._unjudgeable("slow_trace_breakdown", session)) is not None:
            return absent
        c = self.config
        slowest = session.slow[: c.slowest_traces]
        if not slowest:
            return self.ok(
                "slow_trace_breakdown",
                f"No trace took ≥ {session.min_duration_ms} ms in {len(session.seen)} traces: nothing to break down",
                subject=session.service,
                evidence=Evidence(query=session.slow_query, observed=0, unit="slow traces", range=self._range(session)),
            )
        spent: Counter = Counter()
        by_target: dict[str, Counter] = {category: Counter() for category in CATEGORIES}
        rows = []
        timeouts = 0
        for trace in slowest:
            own = self_times(trace)
            for span in trace.spans:
                kind = category(span, session.service)
                us = own[span.span_id]
                spent[kind] += us
                detail = ""
                if kind == DB:
                    system = str(span.tag("db.system")).lower()
                    statement = span.tag("db.statement", "db.query.text") or span.operation
                    detail = truncate_statement(str(statement), c.statement_chars)
                    by_target[DB][(system, detail)] += us
                elif kind == CACHE:
                    system = str(span.tag("db.system")).lower()
                    result = cache_result(span)
                    detail = f"{span.tag('db.statement', 'db.query.text') or span.operation}" + (
                        f" ({result})" if result else ""
                    )
                    by_target[CACHE][system] += us
                elif kind == EXTERNAL:
                    status = http_status(span)
                    target = peer(span)
                    detail = " ".join(
                        str(part)
                        for part in (
                            span.tag("http.method", "http.request.method"),
                            span.tag("http.url", "url.full") or target,
                            status,
                            "error: " + error_message(span) if is_error(span) else "",
                        )
                        if part
                    )
                    timeouts += 1 if is_error(span) and TIMEOUT.search(error_message(span)) else 0
                    by_target[EXTERNAL][target] += us
                else:
                    by_target[SELF][f"{span.service}: {span.operation}"] += us
                rows.append((us, trace.trace_id, span, kind, detail))
        whole = sum(spent.values()) or 1
        shares = {kind: round(spent[kind] / whole, 4) for kind in CATEGORIES}
        dominant = max(CATEGORIES, key=lambda kind: spent[kind])
        top = by_target[dominant].most_common(1)[0][0] if by_target[dominant] else None
        data: dict[str, Any] = {"dominant": dominant, "shares": shares, "timeouts": timeouts}
        what = f"{_share(shares[dominant])} of slow-trace time is"
        if dominant == DB:
            system, statement = top
            data |= {"db_system": system, "statement": statement}
            summary, subject = f"{what} in {DB_NAMES.get(system, system)}: {statement}", system
            runbook = "slow-queries"
            remediation = (
                "The database is where the time goes: find the statement in the PostgreSQL findings (slow queries, "
                "locks, missing indexes) and EXPLAIN ANALYZE it."
            )
        elif dominant == EXTERNAL:
            data["peer"] = top
            summary, subject = f"{what} in external calls to {top}", top
            if timeouts:
                summary += f" ({timeouts} timed out)"
            runbook = "dependency-unreachable" if timeouts else "slow-traces"
            remediation = (
                f"Calls to {top} are slow: check that dependency's health and latency, and that the caller has a "
                "timeout shorter than its own and a circuit breaker."
            )
        elif dominant == CACHE:
            data["cache_system"] = top
            summary, subject = f"{what} in {DB_NAMES.get(top, top)} (cache)", top
            runbook = "slow-traces"
            remediation = "The cache itself is slow or called too often: see the cache-miss finding, batch lookups."
        else:
            data["operation"] = top
            summary = f"{what} in {session.service} itself ({top}): no database, external or cache span explains it"
            subject, runbook = session.service, "slow-traces"
            remediation = (
                "The service's own code is slow: check CPU saturation and throttling, garbage collection pauses and "
                "lock contention; profile the operation."
            )
        ids, urls = self._links(session, slowest)
        data |= {"trace_ids": ids, "trace_urls": urls}
        rows.sort(key=lambda row: row[0], reverse=True)
        table = Table(
            columns=["trace", "span", "service", "category", "ms", "self ms", "detail"],
            rows=[
                [tid, span.operation, span.service, kind, round(span.duration_us / 1000, 1), round(us / 1000, 1), d]
                for us, tid, span, kind, d in rows[: c.span_rows]
            ],
        )
        return self.finding(
            "slow_trace_breakdown",
            self._slow_share_status(session),
            summary,
            subject=subject,
            evidence=Evidence(
                query=session.slow_query,
                observed=shares[dominant],
                threshold=None,
                unit="ratio",
                table=table,
                range=self._range(session),
                data=data,
            ),
            remediation=remediation,
            runbook=runbook,
        )

    def cache_misses(self, session: Session, window: Window) -> Finding:
        if (absent := self._unjudgeable("cache_misses", session)) is not None:
            return absent
        c = self.config

        def tally(traces: list[Trace]) -> tuple[int, int, Counter, Counter, set]:
            lookups = misses = 0
            ops, missed, systems = Counter(), Counter(), set()
            for trace in traces:
                for span in trace.spans:
                    if category(span, session.service) != CACHE:
                        continue
                    systems.add(str(span.tag("db.system")).lower())
                    result = cache_result(span)
                    if result is None:
                        continue
                    lookups += 1
                    ops[span.operation] += 1
                    if result == "miss":
                        misses += 1
                        missed[span.operation] += 1
            return lookups, misses, ops, missed, systems

        lookups, misses, ops, missed, systems = tally(session.seen)
        system = ", ".join(sorted(systems)) or "cache"
        if not systems:
            return self.no_data(
                "cache_misses",
                f"No cache spans (db.system redis or memcached) in {len(session.seen)} traces",
                subject=session.service,
                evidence=Evidence(query=session.last_query, observed=0, unit="lookups", range=self._range(session)),
            )
        if not lookups:
            return self.no_data(
                "cache_misses",
                f"{DB_NAMES.get(system, system)} spans do not say hit or miss (tag cache.hit)",
                subject=system,
                evidence=Evidence(query=session.last_query, observed=0, unit="lookups", range=self._range(session)),
            )
        base_lookups, base_misses, *_ = tally(session.baseline_traces)
        ratio = misses / lookups
        base_ratio = base_misses / base_lookups if base_lookups else None
        per_trace = lookups / max(len(session.seen), 1)
        status = OK
        if lookups >= c.cache_min_lookups:
            status = grade(ratio, warn=c.cache_miss_warn, crit=c.cache_miss_crit)
        summary = (
            f"{misses} of {lookups} cache lookups missed ({_share(ratio)}) in {DB_NAMES.get(system, system)}, "
            f"{per_trace:.0f} per trace"
        )
        summary += f" (before: {_share(base_ratio)})" if base_ratio is not None else ""
        missing_traces = [t for t in session.seen if any(cache_result(s) == "miss" for s in t.spans)]
        missing_traces.sort(key=lambda t: t.duration_us, reverse=True)
        ids, urls = self._links(session, missing_traces[: c.slowest_traces])
        return self.finding(
            "cache_misses",
            status,
            summary,
            subject=system,
            evidence=Evidence(
                query=session.last_query,
                observed=round(ratio, 4),
                threshold=c.cache_miss_crit if status == CRIT else c.cache_miss_warn,
                unit="ratio",
                table=Table(
                    columns=["operation", "lookups", "misses"],
                    rows=[[op, n, missed[op]] for op, n in ops.most_common(10)],
                ),
                range=self._range(session),
                data={
                    "lookups": lookups,
                    "misses": misses,
                    "miss_ratio": round(ratio, 4),
                    "baseline_miss_ratio": round(base_ratio, 4) if base_ratio is not None else None,
                    "per_trace": round(per_trace, 1),
                    "cache_system": system,
                    "operations": [
                        {"operation": op, "lookups": n, "misses": missed[op]} for op, n in ops.most_common(10)
                    ],
                    "trace_ids": ids,
                    "trace_urls": urls,
                },
            ),
            remediation="Almost every read misses the cache and falls through to the database: was the cache "
            "flushed or restarted, did a deploy change the key names or TTLs? Warm the hot keys and protect the "
            "database from the stampede (request coalescing, rate limits).",
            runbook="slow-traces",
        )

    def error_spans(self, session: Session, window: Window) -> Finding:
        if (absent := self._unjudgeable("error_spans", session)) is not None:
            return absent
        groups: dict[tuple[str, str, str], dict] = {}
        error_traces = set()
        for trace in session.seen:
            for span in trace.spans:
                if not is_error(span):
                    continue
                error_traces.add(trace.trace_id)
                message = error_message(span)
                key = (span.service, span.operation, normalize(message))
                group = groups.setdefault(
                    key,
                    {
                        "service": span.service,
                        "operation": span.operation,
                        "message": message,
                        "count": 0,
                        "trace_ids": [],
                        "timeout": bool(TIMEOUT.search(message)) or http_status(span) == 504,
                    },
                )
                group["count"] += 1
                if trace.trace_id not in group["trace_ids"] and len(group["trace_ids"]) < 5:
                    group["trace_ids"].append(trace.trace_id)
        total = len(session.seen)
        # Most frequent first; on a tie, a span with a message of its own before one that only passes a status on.
        ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["message"].startswith("HTTP "), g["operation"]))
        spans = sum(g["count"] for g in ordered)
        timeouts = sum(g["count"] for g in ordered if g["timeout"])
        share = len(error_traces) / total
        for group in ordered:
            group["trace_urls"] = [session.source.trace_url(i) for i in group["trace_ids"]]
        firsts = [g["trace_ids"][0] for g in ordered[: self.config.slowest_traces]]
        data = {
            "trace_ids": firsts,
            "trace_urls": [session.source.trace_url(i) for i in firsts],
            "groups": ordered[:20],
            "error_spans": spans,
            "error_traces": len(error_traces),
            "total_traces": total,
            "timeouts": timeouts,
        }
        evidence = Evidence(
            query=session.last_query,
            observed=len(error_traces),
            threshold=0,
            unit="traces",
            table=Table(
                columns=["service", "operation", "message", "spans", "timeout", "first trace"],
                rows=[
                    [
                        g["service"],
                        g["operation"],
                        g["message"],
                        g["count"],
                        "yes" if g["timeout"] else "",
                        g["trace_urls"][0],
                    ]
                    for g in ordered[:20]
                ],
            ),
            range=self._range(session),
            data=data,
        )
        if not ordered:
            return self.ok(
                "error_spans", f"No error spans in {total} traces", subject=session.service, evidence=evidence
            )
        top = ordered[0]
        status = CRIT if share >= self.config.error_traces_crit else WARN
        summary = (
            f"{spans} error spans in {len(error_traces)} of {total} traces ({_share(share)}); most: "
            f"{top['service']} {top['operation']} — {top['message']} ×{top['count']}"
        )
        if timeouts:
            summary += f"; {timeouts} timeouts"
        return self.finding(
            "error_spans",
            status,
            summary,
            subject=top["operation"],
            evidence=evidence,
            remediation="Open a trace of the top group (the table links one): the failing span says which call "
            "fails and why. Timeouts point at a slow or unreachable dependency.",
            runbook="dependency-unreachable" if timeouts * 2 >= spans else "high-error-rate",
        )
