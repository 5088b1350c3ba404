"""Prometheus collector: error rate, latency, traffic, memory leaks, memory, CPU and throttling.

Every metric check compares the incident window with a baseline window just
before it, so a finding says what changed, not only whether a fixed threshold
was crossed. Each finding keeps the (downsampled) series it was computed from,
the PromQL and the time range: the evidence outlives Prometheus' retention and
the incident page draws it as a chart.

Metric and label names are configurable per target (``metrics`` in the
targets file); the defaults fit the usual exporters: ``http_requests_total``
with a ``status`` label, ``http_request_duration_seconds_bucket``, cAdvisor's
``container_*`` series and kube-state-metrics' ``kube_pod_container_resource_limits``.
"""

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

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
    Window,
    crossed,
    grade,
)

OK, WARN, CRIT = FindingStatus.OK, FindingStatus.WARN, FindingStatus.CRIT

DEFAULT_METRICS = {
    "requests_total": "http_requests_total",
    "status_label": "status",
    "duration_bucket": "http_request_duration_seconds_bucket",
    "memory": "container_memory_working_set_bytes",
    "memory_limit": "container_spec_memory_limit_bytes",
    "cpu_usage": "container_cpu_usage_seconds_total",
    "cpu_limit": 'kube_pod_container_resource_limits{resource="cpu"}',
    "cfs_throttled": "container_cpu_cfs_throttled_periods_total",
    "cfs_periods": "container_cpu_cfs_periods_total",
    "pod_label": "pod",
    # Selector for container series; by default the pods named after the service.
    "container_selector": "",
}


@dataclass(frozen=True)
class PrometheusConfig(CollectorConfig):
    """Thresholds and limits; each overridable as ``DIAGNOSTICS_PROMETHEUS_<FIELD>``. Ratios are 0–1."""

    error_rate_warn: float = 0.01  # 5xx share of requests, above
    error_rate_crit: float = 0.05  # the seed's P1: error rate above 5 %
    latency_ratio_warn: float = 1.5  # P95 during the incident vs the median P95 before, at least
    latency_ratio_crit: float = 3.0
    latency_min_seconds: float = 0.1  # below this P95, a ratio is noise
    traffic_drop_warn: float = 0.5  # mean request rate fell by more than this share
    traffic_spike_warn: float = 2.0  # peak request rate above this multiple of before
    traffic_stopped_ratio: float = 0.02  # crit: the rate fell to this share of before, or below
    memory_warn: float = 0.8  # working set / memory limit, above
    memory_crit: float = 0.9
    cpu_warn: float = 0.8  # CPU used / CPU limit, above
    cpu_crit: float = 0.9
    throttling_warn: float = 0.25  # throttled CFS periods / periods, above
    throttling_crit: float = 0.5
    leak_min_mb_per_hour: float = 5.0  # growth of the memory floor that counts as a leak, with
    leak_min_r2: float = 0.8  # a fit at least this good
    leak_crit_hours_to_limit: float = 6.0  # crit when the leak reaches the limit within this long
    leak_min_points: int = 10  # fewer points per pod give no trend
    baseline_min_seconds: int = 3600  # the baseline is the window's length before it, at least this long
    max_points: int = 120  # per stored series
    query_timeout_seconds: float = 10.0
    ready_timeout_seconds: float = 5.0


RATE_WINDOW = "5m"


@dataclass
class Session:
    client: PrometheusConnect
    metrics: dict
    selector: str  # label matchers of the service, without braces
    container_selector: str
    baseline: Window
    timeout: float
    last_query: str = ""

    def range(self, query: str, window: Window, step: float) -> list[dict]:
        self.last_query = query
        try:
            return self.client.custom_query_range(
                query, start_time=window.start, end_time=window.now, step=f"{max(int(step), 1)}s", timeout=self.timeout
            )
        except PrometheusApiClientException as exc:
            raise QueryError(query, str(exc)) from exc
        except requests.RequestException as exc:
            raise CollectorError(f"Prometheus unreachable: {type(exc).__name__}", permanent=False) from exc


class QueryError(Exception):
    def __init__(self, query: str, detail: str):
        message = detail
        match = re.search(r'"error"\s*:\s*"([^"]+)"', detail)
        if match:
            message = match.group(1)
        super().__init__(f"Prometheus refused the query: {message[:300]}")
        self.query = query


def _regex_literal(text: str) -> str:
    """``text`` matched literally by a PromQL regex inside a double-quoted string."""
    return "".join("\\\\" + ch if ch in ".+*?()[]{}|^$\\" else ch for ch in text).replace('"', '\\"')


def label_matchers(labels: dict) -> str:
    return ",".join(f'{name}="{value}"' for name, value in sorted(labels.items()))


def join_matchers(selector: str, extra: str) -> str:
    return ",".join(part for part in (selector, extra) if part)


def step_for(window: Window) -> float:
    return max(15.0, window.seconds / 240)


def _values(result: list[dict]) -> list[tuple[float, float]]:
    """The points of the first series, NaN and Inf dropped."""
    if not result:
        return []
    points = []
    for ts, value in result[0].get("values", []):
        number = float(value)
        if math.isfinite(number):
            points.append((float(ts), number))
    return points


def _series_by(result: list[dict], label: str) -> dict[str, list[tuple[float, float]]]:
    series = {}
    for item in result:
        name = item.get("metric", {}).get(label, "") or "all"
        points = [(float(ts), float(v)) for ts, v in item.get("values", []) if math.isfinite(float(v))]
        if points:
            series[name] = points
    return series


def downsample(points: list[tuple[float, float]], limit: int) -> list[list[float]]:
    if len(points) <= limit:
        return [[ts, round(v, 6)] for ts, v in points]
    stride = len(points) / limit
    return [[points[int(i * stride)][0], round(points[int(i * stride)][1], 6)] for i in range(limit)]


def _at(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares: slope (per second), intercept, and R²."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    syy = sum((y - mean_y) ** 2 for _, y in points)
    if sxx == 0:
        return 0.0, mean_y, 0.0
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    r2 = (sxy * sxy) / (sxx * syy) if syy else 0.0
    return slope, intercept, r2


class PrometheusCollector(Collector):
    kind = "prometheus"
    config_class = PrometheusConfig
    config: PrometheusConfig
    checks = (
        "error_rate",
        "latency",
        "request_rate",
        "memory_leak",
        "memory_vs_limit",
        "cpu_saturation",
        "cpu_throttling",
    )
    soft_time_limit = 60
    time_limit = 90

    @contextmanager
    def open(self, target, window, secrets: Secrets = NO_SECRETS):
        config = target.config
        url = config.get("url")
        if not url:
            raise ConfigurationError(f"prometheus target {target.name}: no url")
        headers = {}
        if config.get("auth_header_env"):
            if not secrets.get("auth_header"):
                raise ConfigurationError(f"prometheus target {target.name}: no value for auth_header_env")
            headers["Authorization"] = secrets["auth_header"]
        metrics = {**DEFAULT_METRICS, **(config.get("metrics") or {})}
        labels = dict(config.get("labels") or {})
        selector = label_matchers(labels)
        container_selector = metrics["container_selector"]
        if not container_selector:
            service = labels.get("service") or labels.get("app") or target.name
            container_selector = (
                f'{metrics["pod_label"]}=~"{_regex_literal(service)}-.*",container!="",container!="POD"'
            )
        timeout = self.config.query_timeout_seconds
        client = PrometheusConnect(url=url, headers=headers, disable_ssl=False, timeout=timeout)
        ready = f"{url.rstrip('/')}/-/ready"
        try:
            client._session.get(ready, headers=headers, timeout=self.config.ready_timeout_seconds).raise_for_status()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise CollectorError(f"Prometheus refused access ({status})", permanent=True) from exc
            raise CollectorError(f"Prometheus not ready ({status})", permanent=False) from exc
        except requests.RequestException as exc:
            raise CollectorError(f"Prometheus unreachable at {url}: {type(exc).__name__}", permanent=False) from exc
        baseline_length = max(window.seconds, float(self.config.baseline_min_seconds))
        baseline = Window(start=window.start - timedelta(seconds=baseline_length), now=window.start)
        yield Session(client, metrics, selector, container_selector, baseline, timeout)

    # Helpers ----------------------------------------------------------------------------

    def _range_evidence(self, window: Window, session: Session, step: float) -> dict:
        return {
            "start": window.start.isoformat(),
            "end": window.now.isoformat(),
            "baseline_start": session.baseline.start.isoformat(),
            "incident_start": window.start.isoformat(),
            "step": step,
        }

    def _no_data(self, name: str, query: str, reason: str, window: Window, session: Session) -> Finding:
        return self.no_data(
            name,
            f"No data: {reason}",
            subject=session.selector or session.container_selector,
            evidence=Evidence(query=query, range=self._range_evidence(window, session, step_for(window))),
        )

    def _series(self, points: list[tuple[float, float]]) -> list[list[float]]:
        return downsample(points, self.config.max_points)

    def _whole(self, window: Window, session: Session) -> Window:
        return Window(start=session.baseline.start, now=window.now)

    # Checks --------------------------------------------------------------------------------

    def error_rate(self, session: Session, window: Window) -> Finding:
        m = session.metrics
        total = f"sum(rate({m['requests_total']}{{{session.selector}}}[{RATE_WINDOW}]))"
        five_xx = join_matchers(session.selector, f'{m["status_label"]}=~"5.."')
        errors = f"sum(rate({m['requests_total']}{{{five_xx}}}[{RATE_WINDOW}]))"
        query = f"({errors} or vector(0)) / {total}"
        step = step_for(window)
        points = _values(session.range(query, window, step))
        if not points:
            return self._no_data(
                "error_rate", query, f"no {m['requests_total']} series for {session.selector}", window, session
            )
        baseline = _values(session.range(query, session.baseline, step_for(session.baseline)))
        base = sum(v for _, v in baseline) / len(baseline) if baseline else 0.0
        peak_ts, peak = max(points, key=lambda p: p[1])
        warn, crit = self.config.error_rate_warn, self.config.error_rate_crit
        status = grade(peak, warn=warn, crit=crit, inclusive=False)
        started = next((ts for ts, v in points if v > warn), None)
        summary = f"5xx ratio peaked at {_pct(peak)} at {_at(peak_ts)} (baseline {_pct(base)})"
        if started is not None:
            summary += f"; above {_pct(warn)} since {_at(started)}"
        evidence = Evidence(
            query=query,
            observed=round(peak, 6),
            threshold=crossed(status, warn=warn, crit=crit),
            unit="ratio",
            series=[{"name": "5xx ratio", "points": self._series(points)}],
            range=self._range_evidence(window, session, step)
            | {"baseline": round(base, 6), "started": started, "suggested_severity": "P1" if status == CRIT else None},
        )
        return self.finding(
            "error_rate",
            status,
            summary,
            subject=session.selector,
            evidence=evidence,
            remediation=(
                "Group the errors in the logs (the log analysis findings), check recent deploys and upstream "
                "dependencies; an error rate above 5% is a P1."
            ),
            runbook="high-error-rate",
        )

    def latency(self, session: Session, window: Window) -> Finding:
        m = session.metrics
        bucket = f"sum by (le) (rate({m['duration_bucket']}{{{session.selector}}}[{RATE_WINDOW}]))"
        q95 = f"histogram_quantile(0.95, {bucket})"
        q99 = f"histogram_quantile(0.99, {bucket})"
        step = step_for(window)
        p95 = _values(session.range(q95, window, step))
        if not p95:
            return self._no_data(
                "latency", q95, f"no {m['duration_bucket']} series for {session.selector}", window, session
            )
        p99 = _values(session.range(q99, window, step))
        base = _values(session.range(q95, session.baseline, step_for(session.baseline)))
        base_p95 = sorted(v for _, v in base)[len(base) // 2] if base else None
        peak_ts, peak = max(p95, key=lambda p: p[1])
        peak99 = max((v for _, v in p99), default=None)
        ratio = (peak / base_p95) if base_p95 else None
        warn, crit = self.config.latency_ratio_warn, self.config.latency_ratio_crit
        status = OK
        if ratio is not None and peak >= self.config.latency_min_seconds:
            status = grade(ratio, warn=warn, crit=crit)
        summary = f"P95 latency peaked at {_duration(peak)} at {_at(peak_ts)}"
        if base_p95:
            summary += f" vs {_duration(base_p95)} before ({ratio:.1f}×)"
        if peak99 is not None:
            summary += f"; P99 {_duration(peak99)}"
        return self.finding(
            "latency",
            status,
            summary,
            subject=session.selector,
            evidence=Evidence(
                query=q95,
                observed=round(peak, 6),
                threshold=round(base_p95 * crossed(status, warn=warn, crit=crit), 6) if base_p95 else None,
                unit="seconds",
                series=[
                    {"name": "P95", "points": self._series(p95)},
                    {"name": "P99", "points": self._series(p99)},
                ],
                range=self._range_evidence(window, session, step) | {"baseline": base_p95, "ratio": ratio},
            ),
            remediation="Look for slow queries and saturated dependencies (the PostgreSQL findings) and CPU "
            "throttling; compare with the last deploy.",
            runbook="slow-queries",
        )

    def request_rate(self, session: Session, window: Window) -> Finding:
        m = session.metrics
        query = f"sum(rate({m['requests_total']}{{{session.selector}}}[{RATE_WINDOW}]))"
        step = step_for(window)
        points = _values(session.range(query, window, step))
        baseline = _values(session.range(query, session.baseline, step_for(session.baseline)))
        if not points and not baseline:
            return self._no_data(
                "request_rate", query, f"no {m['requests_total']} series for {session.selector}", window, session
            )
        base = sum(v for _, v in baseline) / len(baseline) if baseline else 0.0
        current = [v for _, v in points]
        low = min(current) if current else 0.0
        high = max(current) if current else 0.0
        mean = sum(current) / len(current) if current else 0.0
        status, summary = OK, f"{mean:.1f} req/s during the incident vs {base:.1f} req/s before"
        if base > 0 and low <= base * self.config.traffic_stopped_ratio:
            status, summary = (
                CRIT,
                f"Traffic dropped to {low:.2f} req/s (from {base:.1f} req/s before): nothing is getting through",
            )
        elif base > 0 and mean < base * (1 - self.config.traffic_drop_warn):
            status, summary = WARN, f"Traffic fell {1 - mean / base:.0%}: {mean:.1f} req/s vs {base:.1f} req/s before"
        elif base > 0 and high > base * self.config.traffic_spike_warn:
            status, summary = (
                WARN,
                f"Traffic spiked to {high:.1f} req/s ({high / base:.1f}× the {base:.1f} req/s before)",
            )
        return self.finding(
            "request_rate",
            status,
            summary,
            subject=session.selector,
            evidence=Evidence(
                query=query,
                observed=round(mean, 4),
                threshold=round(base, 4),
                unit="req/s",
                series=[{"name": "requests/s", "points": self._series(baseline + points)}],
                range=self._range_evidence(window, session, step) | {"baseline": base},
            ),
            remediation={
                CRIT: "No traffic reaches the service: check the ingress, the Service's endpoints and upstream "
                "callers.",
                WARN: "A traffic change this large explains saturation or an upstream problem; check callers and "
                "autoscaling.",
            }.get(status, ""),
        )

    def memory_leak(self, session: Session, window: Window) -> list[Finding]:
        """Fit the rolling floor of memory: garbage-collector sawtooth has a flat floor, a leak a rising one."""
        m = session.metrics
        span = self._whole(window, session)
        step = max(60.0, span.seconds / 240)
        floor_query = f"min_over_time({m['memory']}{{{session.container_selector}}}[10m])"
        query = f"max by ({m['pod_label']}) ({floor_query})"
        series = _series_by(session.range(query, span, step), m["pod_label"])
        if not series:
            return [
                self._no_data(
                    "memory_leak", query, f"no {m['memory']} series for {session.container_selector}", window, session
                )
            ]
        limits = self._limits(session, span)
        findings = []
        for pod, points in sorted(series.items()):
            if len(points) < self.config.leak_min_points:
                continue
            slope, _, r2 = linear_fit(points)
            mb_per_hour = slope * 3600 / 1e6
            current = points[-1][1]
            limit = limits.get(pod)
            hours_to_limit = (limit - current) / (slope * 3600) if limit and slope > 0 and limit > current else None
            leaking = mb_per_hour >= self.config.leak_min_mb_per_hour and r2 >= self.config.leak_min_r2
            status, summary = OK, f"No steady growth: memory floor {mb_per_hour:+.1f} MB/h (R² {r2:.2f})"
            fit = {"r2": round(r2, 3)}
            if leaking:
                status, summary = WARN, f"Memory floor growing {mb_per_hour:.1f} MB/h (R² {r2:.2f})"
                fit |= {"limit": limit, "hours_to_limit": hours_to_limit}
                if hours_to_limit is not None:
                    summary += f"; reaches the {limit / 2**20:.0f} MiB limit in ~{hours_to_limit:.1f} h"
                    if hours_to_limit <= self.config.leak_crit_hours_to_limit:
                        status = CRIT
            findings.append(
                self.finding(
                    "memory_leak",
                    status,
                    summary,
                    subject=pod,
                    evidence=Evidence(
                        query=query,
                        observed=round(mb_per_hour, 2),
                        threshold=self.config.leak_min_mb_per_hour,
                        unit="MB/h",
                        series=[{"name": "memory floor", "points": self._series(points)}],
                        range=self._range_evidence(window, session, step) | fit,
                    ),
                    remediation="Memory that survives garbage collection keeps growing: look for caches without "
                    "bounds, listeners never removed and connections never closed; restart the pods to buy time.",
                    runbook="memory-leak",
                )
            )
        if not findings:
            return [self._no_data("memory_leak", query, "too few points to fit a trend", window, session)]
        return findings

    def _limits(self, session: Session, span: Window) -> dict[str, float]:
        m = session.metrics
        query = f"max by ({m['pod_label']}) ({m['memory_limit']}{{{session.container_selector}}} > 0)"
        result = session.range(query, Window(start=span.now - timedelta(minutes=5), now=span.now), 60)
        return {name: points[-1][1] for name, points in _series_by(result, m["pod_label"]).items()}

    def memory_vs_limit(self, session: Session, window: Window) -> list[Finding]:
        m = session.metrics
        query = (
            f"max by ({m['pod_label']}) ({m['memory']}{{{session.container_selector}}}) / "
            f"max by ({m['pod_label']}) ({m['memory_limit']}{{{session.container_selector}}} > 0)"
        )
        return self._ratio_per_pod(
            session, window, "memory_vs_limit", query, "memory",
            self.config.memory_warn, self.config.memory_crit,
            no_series=f"no {m['memory']} with a {m['memory_limit']} for {session.container_selector} (no limit set?)",
            remediation="Raise the memory limit or find what holds memory; a pod at its limit is OOM-killed.",
            runbook="memory-leak",
        )  # fmt: skip

    def cpu_saturation(self, session: Session, window: Window) -> list[Finding]:
        m = session.metrics
        limit = m["cpu_limit"]
        limit_selector = session.container_selector
        if "{" in limit:
            name, _, rest = limit.partition("{")
            limit_expr = f"{name}{{{join_matchers(rest.rstrip('}'), limit_selector)}}}"
        else:
            limit_expr = f"{limit}{{{limit_selector}}}"
        query = (
            f"sum by ({m['pod_label']}) (rate({m['cpu_usage']}{{{session.container_selector}}}[{RATE_WINDOW}])) / "
            f"sum by ({m['pod_label']}) ({limit_expr})"
        )
        return self._ratio_per_pod(
            session, window, "cpu_saturation", query, "CPU", self.config.cpu_warn, self.config.cpu_crit,
            no_series=f"no {m['cpu_usage']} with a CPU limit for {session.container_selector}",
            remediation="The pods use their whole CPU allowance: scale out (kubectl scale), raise the limit, or "
            "profile the hot path.",
            runbook="high-cpu",
        )  # fmt: skip

    def cpu_throttling(self, session: Session, window: Window) -> list[Finding]:
        m = session.metrics
        query = (
            f"sum by ({m['pod_label']}) (rate({m['cfs_throttled']}{{{session.container_selector}}}[{RATE_WINDOW}])) / "
            f"sum by ({m['pod_label']}) (rate({m['cfs_periods']}{{{session.container_selector}}}[{RATE_WINDOW}]))"
        )
        return self._ratio_per_pod(
            session, window, "cpu_throttling", query, "CPU throttling", self.config.throttling_warn,
            self.config.throttling_crit,
            no_series=f"no CFS throttling counters for {session.container_selector}",
            remediation="Throttled containers stall on every request: raise the CPU limit, or remove it and keep "
            "the request.",
            runbook="high-cpu",
        )  # fmt: skip

    def _ratio_per_pod(
        self, session, window, name, query, label, warn, crit, *, no_series, remediation, runbook
    ) -> list[Finding]:
        step = step_for(window)
        series = _series_by(session.range(query, window, step), session.metrics["pod_label"])
        if not series:
            return [self._no_data(name, query, no_series, window, session)]
        findings = []
        for pod, points in sorted(series.items()):
            peak_ts, peak = max(points, key=lambda p: p[1])
            status = grade(peak, warn=warn, crit=crit, inclusive=False)
            findings.append(
                self.finding(
                    name,
                    status,
                    f"{label} at {_pct(peak)} of the limit at {_at(peak_ts)} (now {_pct(points[-1][1])})",
                    subject=pod,
                    evidence=Evidence(
                        query=query,
                        observed=round(peak, 4),
                        threshold=crossed(status, warn=warn, crit=crit),
                        unit="ratio",
                        series=[{"name": f"{label} / limit", "points": self._series(points)}],
                        range=self._range_evidence(window, session, step),
                    ),
                    remediation=remediation,
                    runbook=runbook,
                )
            )
        return findings
