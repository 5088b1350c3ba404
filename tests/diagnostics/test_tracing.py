"""The tracing collector against a loopback Jaeger query API serving scenario traces."""

import socket
from datetime import UTC, datetime, timedelta

import pytest

from diagnostics.charts import finding_chart
from diagnostics.collectors.base import CollectorError, ConfigurationError, TargetSpec, Window
from diagnostics.collectors.tracing import (
    TraceQueryError,
    TracingCollector,
    TracingConfig,
    jaeger_trace,
    self_times,
    truncate_statement,
)
from tests.diagnostics import tracing_scenarios as scenarios
from tests.jaeger_api import JaegerQuery, TraceBuilder

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = Window(start=END - timedelta(hours=1), now=END)


@pytest.fixture(scope="module")
def jaeger():
    traces = (
        scenarios.healthy("calm-service", END)
        + scenarios.slow_db("task-service", END)
        + scenarios.slow_external("checkout-service", END)
        + scenarios.cache_miss_storm("catalog-service", END)
        + scenarios.quiet("quiet-service", END)
        + scenarios.slow_handler("report-service", END)
    )
    with JaegerQuery(traces, failing_storage=frozenset({"stored-elsewhere"})) as server:
        yield server


def collect(jaeger, service: str, **config) -> dict:
    target = TargetSpec(kind="tracing", name=service, config={"url": jaeger.url, "service": service, **config})
    findings = TracingCollector().collect(target, WINDOW)
    assert len({f.check for f in findings}) == len(findings) == 4
    return {f.check: f.to_dict() for f in findings}


def test_slow_db_trace_breakdown_names_postgres_and_the_statement(jaeger):
    findings = collect(jaeger, "task-service")
    slow = findings["tracing.slow_traces"]
    assert slow["status"] == "crit"
    data = slow["evidence"]["data"]
    assert (data["slow_count"], data["total"]) == (20, 60)
    assert data["share"] == pytest.approx(1 / 3, abs=0.001)
    assert data["p95_ms"] > 2000 and data["baseline_p95_ms"] < 200 and data["ratio"] > 10
    assert slow["summary"].startswith("20 of 60 traces (33 %) took ≥ 1000 ms; P95 ")
    assert data["trace_urls"][0] == f"{jaeger.url}/trace/{data['trace_ids'][0]}"
    # The slowest trace first, in the table and the links.
    assert slow["evidence"]["table"]["rows"][0][0] == data["trace_ids"][0]
    assert slow["evidence"]["table"]["rows"][0][2] >= slow["evidence"]["table"]["rows"][1][2]
    assert slow["runbook"] == "slow-traces"
    assert any("minDuration=1000ms" in path for path in jaeger.requests)

    breakdown = findings["tracing.slow_trace_breakdown"]
    shares = breakdown["evidence"]["data"]["shares"]
    assert breakdown["evidence"]["data"]["dominant"] == "db" and shares["db"] > 0.9
    assert breakdown["summary"] == (
        f"{shares['db'] * 100:.0f} % of slow-trace time is in PostgreSQL: "
        "SELECT … FROM tasks WHERE userId = $1 ORDER BY created_at DESC"
    )
    assert breakdown["subject"] == "postgresql" and breakdown["runbook"] == "slow-queries"
    assert breakdown["status"] == "crit"
    table = breakdown["evidence"]["table"]
    assert table["columns"] == ["trace", "span", "service", "category", "ms", "self ms", "detail"]
    assert table["rows"][0][1:4] == ["pg.query:SELECT", "task-service", "db"]
    assert len(breakdown["evidence"]["data"]["trace_ids"]) == TracingConfig().slowest_traces

    assert findings["tracing.error_spans"]["status"] == "ok"
    assert findings["tracing.cache_misses"]["status"] == "ok"


def test_slow_trace_chart_draws_p95_against_the_slow_threshold(jaeger):
    slow = collect(jaeger, "task-service")["tracing.slow_traces"]
    points = slow["evidence"]["series"][0]["points"]
    assert len(points) > 20 and slow["evidence"]["unit"] == "seconds"
    assert max(v for _, v in points) > 2 and min(v for _, v in points) < 0.3
    svg = str(finding_chart(slow))
    assert "threshold 1.00 s" in svg and "incident start" in svg and "P95 trace duration" in svg


def test_slow_external_call_with_timeouts(jaeger):
    findings = collect(jaeger, "checkout-service")
    breakdown = findings["tracing.slow_trace_breakdown"]
    data = breakdown["evidence"]["data"]
    assert data["dominant"] == "external" and data["peer"] == "payments-api"
    assert data["timeouts"] == 5
    assert breakdown["summary"].endswith("of slow-trace time is in external calls to payments-api (5 timed out)")
    assert breakdown["runbook"] == "dependency-unreachable"

    errors = findings["tracing.error_spans"]
    assert errors["status"] == "crit"
    groups = errors["evidence"]["data"]["groups"]
    # The failing call and the request it failed, each grouped once with its message.
    assert [(g["service"], g["operation"], g["count"], g["timeout"]) for g in groups] == [
        ("checkout-service", "POST", 20, True),
        ("checkout-service", "POST /api/checkout", 20, True),
    ]
    assert groups[0]["message"] == "ETIMEDOUT: request to payments-api timed out after 5000 ms"
    assert groups[1]["message"] == "HTTP 504"
    assert errors["evidence"]["data"]["error_traces"] == 20 and errors["evidence"]["data"]["timeouts"] == 40
    assert errors["runbook"] == "dependency-unreachable"
    assert errors["summary"].startswith("40 error spans in 20 of 40 traces (50 %)")
    assert groups[0]["trace_urls"][0].startswith(f"{jaeger.url}/trace/")


def test_cache_miss_storm(jaeger):
    findings = collect(jaeger, "catalog-service")
    misses = findings["tracing.cache_misses"]
    assert misses["status"] == "crit"
    data = misses["evidence"]["data"]
    assert (data["lookups"], data["misses"], data["miss_ratio"]) == (900, 900, 1.0)
    assert data["baseline_miss_ratio"] == 0.0 and data["cache_system"] == "redis"
    assert misses["summary"] == "900 of 900 cache lookups missed (100 %) in Redis, 30 per trace (before: 0 %)"
    # Every page became slow, and the time went to the database the cache should have spared.
    assert findings["tracing.slow_traces"]["evidence"]["data"]["slow_count"] == 30
    assert findings["tracing.slow_trace_breakdown"]["evidence"]["data"]["dominant"] == "db"


def test_healthy_service_is_all_ok(jaeger):
    findings = collect(jaeger, "calm-service")
    assert {check: f["status"] for check, f in findings.items()} == dict.fromkeys(findings, "ok")
    assert findings["tracing.slow_traces"]["summary"].startswith("0 of 60 traces (0 %) took ≥ 1000 ms")
    assert findings["tracing.cache_misses"]["summary"].startswith("0 of 60 cache lookups missed (0 %)")
    assert all(f["runbook"] is None and f["remediation"] == "" for f in findings.values())


def test_a_lower_slow_threshold_from_the_target(jaeger):
    findings = collect(jaeger, "calm-service", min_duration_ms=200)
    data = findings["tracing.slow_traces"]["evidence"]["data"]
    assert data["min_duration_ms"] == 200 and data["slow_count"] > 0
    assert any("minDuration=200ms" in path for path in jaeger.requests)


def test_empty_window_is_no_data(jaeger):
    findings = collect(jaeger, "quiet-service")
    assert {f["status"] for f in findings.values()} == {"no_data"}
    assert findings["tracing.slow_traces"]["summary"] == (
        "No data: Jaeger has no traces of quiet-service between 11:00 and 12:00 UTC"
    )


def test_unknown_service_is_no_data_naming_the_known_ones(jaeger):
    findings = collect(jaeger, "task-servce")
    summary = findings["tracing.error_spans"]["summary"]
    assert findings["tracing.error_spans"]["status"] == "no_data"
    assert summary.startswith("No data: Jaeger knows no service named task-servce (it knows: calm-service,")
    assert "task-service" in summary


def test_unreachable_jaeger_is_a_transient_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = TargetSpec(kind="tracing", name="t", config={"url": f"http://127.0.0.1:{port}", "service": "x"})
    with pytest.raises(CollectorError) as caught:
        TracingCollector().collect(target, WINDOW)
    assert caught.value.permanent is False
    assert caught.value.message == f"Jaeger unreachable at http://127.0.0.1:{port}: ConnectionError"


def test_a_refused_query_raises_jaeger_s_message(jaeger):
    """Jaeger answers 400 with its error envelope; a check that meets it becomes an error finding."""
    target = TargetSpec(kind="tracing", name="t", config={"url": jaeger.url, "service": ""})
    with pytest.raises(ConfigurationError):  # no service: refused before asking
        TracingCollector().collect(target, WINDOW)
    collector = TracingCollector(config=TracingConfig(search_limit=5))
    target = TargetSpec(kind="tracing", name="t", config={"url": jaeger.url, "service": "calm-service"})
    with collector.open(target, WINDOW) as session:
        found = session.source.search(service="calm-service", start=WINDOW.start, end=WINDOW.now, limit=5)
        assert len(found) == 5
        with pytest.raises(TraceQueryError) as caught:
            session.source.search(service="", start=WINDOW.start, end=WINDOW.now, limit=5)
    assert str(caught.value) == "Jaeger refused the query: parameter 'service' is required"


def test_ui_url_is_used_for_links(jaeger):
    findings = collect(jaeger, "task-service", ui_url="https://jaeger.example.com/")
    urls = findings["tracing.slow_traces"]["evidence"]["data"]["trace_urls"]
    assert urls and all(u.startswith("https://jaeger.example.com/trace/") for u in urls)


def test_self_time_subtracts_children_once_even_when_they_overlap():
    trace = TraceBuilder(END)
    root = trace.span("svc", "GET /", at_ms=0, ms=100)
    trace.span("svc", "a", at_ms=10, ms=40, parent=root)
    trace.span("svc", "b", at_ms=30, ms=40, parent=root)  # overlaps a: 10–70 covered
    parsed = jaeger_trace(trace.json())
    own = self_times(parsed)
    assert own[parsed.root.span_id] == 40_000
    assert parsed.duration_us == 100_000 and parsed.root.operation == "GET /"


def test_statement_is_shown_on_one_line_with_its_select_list_elided():
    assert truncate_statement(scenarios.SLOW_STATEMENT, 120) == (
        "SELECT … FROM tasks WHERE userId = $1 ORDER BY created_at DESC"
    )
    assert truncate_statement("UPDATE tasks SET status = $1 WHERE id = $2", 120) == (
        "UPDATE tasks SET status = $1 WHERE id = $2"
    )
    assert truncate_statement("DELETE FROM t WHERE " + "x = 1 AND " * 30, 40).endswith("…")
    assert len(truncate_statement("DELETE FROM t WHERE " + "x = 1 AND " * 30, 40)) == 40


def test_trace_links_on_the_page_are_web_links_only():
    from diagnostics.panel import _trace_links

    evidence = {"data": {"trace_ids": ["a" * 32, "b" * 32], "trace_urls": ["https://j/trace/aaa", "javascript:x"]}}
    assert _trace_links(evidence) == [{"url": "https://j/trace/aaa", "label": "a" * 16}]
    assert _trace_links({"query": "x"}) == []


def test_time_in_the_service_itself(jaeger):
    breakdown = collect(jaeger, "report-service")["tracing.slow_trace_breakdown"]
    data = breakdown["evidence"]["data"]
    assert data["dominant"] == "self" and data["operation"] == "report-service: render report"
    assert data["shares"]["self"] > 0.95 and breakdown["subject"] == "report-service"
    assert breakdown["summary"].endswith(
        "of slow-trace time is in report-service itself (report-service: render report): no database, external "
        "or cache span explains it"
    )


def test_a_failing_trace_store_gives_error_findings_with_jaeger_s_message(jaeger):
    target = TargetSpec(kind="tracing", name="t", config={"url": jaeger.url, "service": "stored-elsewhere"})
    findings = TracingCollector().collect(target, WINDOW)
    assert [f.status for f in findings] == ["error"] * 4
    assert findings[0].summary == (
        "Check could not run: TraceQueryError: Jaeger refused the query: search services failed: elastic: "
        "Error 503 (Service Unavailable)"
    )
    assert findings[0].evidence.query.startswith("GET /api/traces?service=stored-elsewhere&start=")
