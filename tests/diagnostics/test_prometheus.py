"""The Prometheus collector against a real Prometheus over backfilled scenario data."""

from datetime import timedelta

import pytest

from diagnostics.collectors.base import CollectorError, TargetSpec, Window
from diagnostics.collectors.prometheus import PrometheusCollector, PrometheusConfig, linear_fit
from tests.prometheus_server import PrometheusServer, openmetrics, utc

START = utc("2026-11-20T09:00:00+00:00")
END = utc("2026-11-20T12:00:00+00:00")
INCIDENT = END - timedelta(minutes=50)  # things go wrong here
WINDOW = Window(start=END - timedelta(hours=1), now=END)  # the incident window (baseline: the hour before)
MB = 1e6
LIMIT = 512 * 2**20
SAW_PERIOD = 300.0  # garbage collection every 5 minutes


def counter(rate_before: float, rate_after: float):
    """A counter whose rate changes at INCIDENT."""
    switch = (INCIDENT - START).total_seconds()

    def value(t: float) -> float:
        return rate_before * min(t, switch) + rate_after * max(0.0, t - switch)

    return value


def sawtooth(t: float, amplitude: float) -> float:
    return amplitude * ((t % SAW_PERIOD) / SAW_PERIOD)


def histogram(service: str, before: dict, after: dict):
    """Bucket counters: before/after give requests/s per upper bound (cumulative computed here)."""
    bounds = ["0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]
    series = []
    for i, le in enumerate(bounds):
        upper = bounds[: i + 1]
        rate_b = sum(before.get(b, 0) for b in upper)
        rate_a = sum(after.get(b, 0) for b in upper)
        series.append(("http_request_duration_seconds_bucket", {"service": service, "le": le}, counter(rate_b, rate_a)))
    return series


def container(pod: str, name: str, fn):
    return (name, {"pod": pod, "container": "app", "namespace": "orion-prod"}, fn)


def scenario_series():
    series = [
        ("http_requests_total", {"service": "errors-svc", "status": "200"}, counter(100, 100)),
        ("http_requests_total", {"service": "errors-svc", "status": "500"}, counter(0.2, 8.7)),
        ("http_requests_total", {"service": "calm-svc", "status": "200"}, counter(40, 41)),
        ("http_requests_total", {"service": "calm-svc", "status": "503"}, counter(0.01, 0.01)),
        ("http_requests_total", {"service": "drop-svc", "status": "200"}, counter(50, 0)),
        ("http_requests_total", {"service": "latency-svc", "status": "200"}, counter(10, 10)),
    ]
    series += histogram("latency-svc", before={"0.25": 10}, after={"5": 10})
    series += histogram("calm-svc", before={"0.1": 30, "0.25": 10}, after={"0.1": 30, "0.25": 11})
    # 40 MB/h of real growth under a 30 MB garbage-collector sawtooth.
    series.append(container("leak-svc-7d9f4c8b9-abc12", "container_memory_working_set_bytes",
                            lambda t: 200 * MB + 40 * MB * t / 3600 + sawtooth(t, 30 * MB)))  # fmt: skip
    series.append(container("leak-svc-7d9f4c8b9-abc12", "container_spec_memory_limit_bytes", lambda t: LIMIT))
    # The same sawtooth with no growth: not a leak.
    series.append(container("saw-svc-5c6d7e8f9-xyz98", "container_memory_working_set_bytes",
                            lambda t: 200 * MB + sawtooth(t, 60 * MB)))  # fmt: skip
    series.append(container("saw-svc-5c6d7e8f9-xyz98", "container_spec_memory_limit_bytes", lambda t: LIMIT))
    # Close to the limit: 93 %.
    series.append(
        container("nearlimit-svc-1a2b3c4d5-qwe12", "container_memory_working_set_bytes", lambda t: 0.93 * LIMIT)
    )
    series.append(container("nearlimit-svc-1a2b3c4d5-qwe12", "container_spec_memory_limit_bytes", lambda t: LIMIT))
    # The seed's 950m CPU on a 1-core limit, throttled 40 % of periods.
    series.append(container("cpu-svc-6f7e8d9c0-abc12", "container_cpu_usage_seconds_total", counter(0.3, 0.95)))
    series.append(
        ("kube_pod_container_resource_limits",
         {"pod": "cpu-svc-6f7e8d9c0-abc12", "container": "app", "resource": "cpu"}, lambda t: 1.0)
    )  # fmt: skip
    series.append(container("cpu-svc-6f7e8d9c0-abc12", "container_cpu_cfs_periods_total", counter(10, 10)))
    series.append(container("cpu-svc-6f7e8d9c0-abc12", "container_cpu_cfs_throttled_periods_total", counter(0.1, 4)))
    return series


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    document = openmetrics(scenario_series(), start=START, end=END, step=15)
    with PrometheusServer(tmp_path_factory.mktemp("prometheus"), document) as server:
        yield server


def collect(prometheus, service: str, check: str, **config):
    target = TargetSpec(
        kind="prometheus", name=service, config={"url": prometheus.url, "labels": {"service": service}, **config}
    )
    collector = PrometheusCollector()
    with collector.open(target, WINDOW) as session:
        return collector.run_check(check, session, WINDOW)


def test_server_answers_with_explicit_time(prometheus):
    result = prometheus.query('sum(rate(http_requests_total{service="errors-svc"}[5m]))', END)
    assert abs(float(result[0]["value"][1]) - 108.7) < 0.5


def test_error_spike_to_8_percent_is_crit(prometheus):
    (finding,) = collect(prometheus, "errors-svc", "error_rate")
    assert finding.status == "crit"
    assert abs(finding.evidence.observed - 0.08) < 0.002
    assert finding.summary.startswith("5xx ratio peaked at 8.0%")
    assert "baseline 0.2%" in finding.summary
    assert "above 1.0% since 11:1" in finding.summary  # started at 11:10, caught within the 5m rate window
    data = finding.to_dict()
    assert data["evidence"]["range"]["suggested_severity"] == "P1"
    assert 'status=~"5.."' in data["evidence"]["query"]
    assert 10 <= len(data["evidence"]["series"][0]["points"]) <= 120
    assert finding.runbook == "high-error-rate"


def test_calm_service_is_ok(prometheus):
    (finding,) = collect(prometheus, "calm-svc", "error_rate")
    assert finding.status == "ok" and finding.evidence.observed < 0.001


def test_latency_spike(prometheus):
    (finding,) = collect(prometheus, "latency-svc", "latency")
    assert finding.status == "crit"
    assert abs(finding.evidence.observed - 4.875) < 0.05  # P95 inside the (2.5, 5] bucket
    assert abs(finding.evidence.range["baseline"] - 0.2425) < 0.01
    assert "P99" in finding.summary and "before (20.1×)" in finding.summary
    assert [s["name"] for s in finding.to_dict()["evidence"]["series"]] == ["P95", "P99"]


def test_request_rate_drop_to_zero_is_crit(prometheus):
    (finding,) = collect(prometheus, "drop-svc", "request_rate")
    assert finding.status == "crit"
    assert "Traffic dropped to 0.00 req/s (from 50.0 req/s before)" in finding.summary


def test_linear_leak_is_found_with_its_growth_rate(prometheus):
    (finding,) = collect(prometheus, "leak-svc", "memory_leak")
    assert finding.status in ("warn", "crit")
    assert finding.subject == "leak-svc-7d9f4c8b9-abc12"
    assert abs(finding.evidence.observed - 40.0) <= 4.0  # MB/h within 10 %
    assert finding.evidence.range["r2"] >= 0.95
    hours = finding.evidence.range["hours_to_limit"]
    # Floor at 12:00 ≈ 200 MB + 3 h × 40 MB/h = 320 MB; the limit 536.9 MB → about 5.4 h.
    assert 4.5 < hours < 6.5
    assert "reaches the 512 MiB limit" in finding.summary


def test_sawtooth_without_growth_is_not_a_leak(prometheus):
    (finding,) = collect(prometheus, "saw-svc", "memory_leak")
    assert finding.status == "ok"
    assert abs(finding.evidence.observed) < 2.0


def test_memory_near_the_limit(prometheus):
    (finding,) = collect(prometheus, "nearlimit-svc", "memory_vs_limit")
    assert finding.status == "crit" and abs(finding.evidence.observed - 0.93) < 0.001
    (leaky,) = collect(prometheus, "leak-svc", "memory_vs_limit")
    assert leaky.status == "ok"


def test_cpu_saturation_and_throttling(prometheus):
    (cpu,) = collect(prometheus, "cpu-svc", "cpu_saturation")
    assert cpu.status == "crit" and abs(cpu.evidence.observed - 0.95) < 0.01
    (throttling,) = collect(prometheus, "cpu-svc", "cpu_throttling")
    assert throttling.status == "warn" and abs(throttling.evidence.observed - 0.4) < 0.01


@pytest.mark.parametrize(
    "check", ["error_rate", "latency", "request_rate", "memory_leak", "memory_vs_limit", "cpu_throttling"]
)
def test_missing_series_is_no_data(prometheus, check):
    (finding,) = collect(prometheus, "missing-svc", check)
    assert finding.status == "no_data"
    assert finding.summary.startswith("No data:")


def test_custom_metric_names(prometheus):
    (finding,) = collect(prometheus, "errors-svc", "error_rate", metrics={"requests_total": "nginx_requests_total"})
    assert finding.status == "no_data" and "nginx_requests_total" in finding.summary


def test_bad_query_is_an_error_finding_not_a_crash(prometheus):
    (finding,) = collect(prometheus, "errors-svc", "error_rate", metrics={"status_label": "bad label!"})
    assert finding.status == "error"
    assert "Prometheus refused the query" in finding.summary


def test_whole_collect_returns_every_check(prometheus):
    target = TargetSpec(
        kind="prometheus", name="cpu-svc", config={"url": prometheus.url, "labels": {"service": "cpu-svc"}}
    )
    findings = PrometheusCollector().collect(target, WINDOW)
    checks = {f.check for f in findings}
    assert checks == {f"prometheus.{name}" for name in PrometheusCollector.checks}


def test_unreachable_prometheus_is_a_transient_collector_error():
    target = TargetSpec(kind="prometheus", name="x", config={"url": "http://127.0.0.1:1", "labels": {"service": "x"}})
    with pytest.raises(CollectorError) as error:
        PrometheusCollector().collect(target, WINDOW)
    assert error.value.permanent is False and "unreachable" in error.value.message


def test_linear_fit():
    slope, intercept, r2 = linear_fit([(0, 1.0), (1, 3.0), (2, 5.0)])
    assert (slope, intercept, r2) == (2.0, 1.0, 1.0)


def test_thresholds_are_the_configuration_passed_in(prometheus):
    target = TargetSpec(
        kind="prometheus", name="errors-svc", config={"url": prometheus.url, "labels": {"service": "errors-svc"}}
    )
    collector = PrometheusCollector(config=PrometheusConfig(error_rate_warn=0.05, error_rate_crit=0.1))
    with collector.open(target, WINDOW) as session:
        (finding,) = collector.run_check("error_rate", session, WINDOW)
    assert finding.status == "warn" and finding.evidence.threshold == 0.05  # 8 % is crit by default
    assert finding.evidence.range["suggested_severity"] is None
    assert "above 5.0% since" in finding.summary


def test_an_ok_finding_has_no_remediation_or_runbook(prometheus):
    (finding,) = collect(prometheus, "saw-svc", "memory_leak")
    assert finding.status == "ok" and finding.remediation == "" and finding.runbook is None
    assert set(finding.evidence.range) >= {"r2", "start", "end"} and "hours_to_limit" not in finding.evidence.range
