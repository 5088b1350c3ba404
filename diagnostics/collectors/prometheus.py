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

from diagnostics.collectors.base import Collector, CollectorError, ConfigurationError, Evidence, Finding, Window
from orion_ops.secret_env import SecretEnvRefused, secret_env_read

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

THRESHOLDS = {
    "error_rate_warn": 0.01,
    "error_rate_crit": 0.05,  # the seed's P1: error rate above 5 %
    "latency_ratio_warn": 1.5,
    "latency_ratio_crit": 3.0,
    "latency_min_seconds": 0.1,  # below this P95, a ratio is noise
    "traffic_drop_warn": 0.5,
    "traffic_spike_warn": 2.0,
    "memory_warn": 0.8,
    "memory_crit": 0.9,
    "cpu_warn": 0.8,
    "cpu_crit": 0.9,
    "throttling_warn": 0.25,
    "throttling_crit": 0.5,
    "leak_min_mb_per_hour": 5.0,
    "leak_min_r2": 0.8,
    "leak_crit_hours_to_limit": 6.0,
}

MAX_POINTS = 120  # per stored series
RATE_WINDOW = "5m"


@dataclass
class Session:
    client: PrometheusConnect
    metrics: dict
    selector: str  # label matchers of the service, without braces
    container_selector: str
    baseline: Window
    last_query: str = ""
    timeout: float = 10.0

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


def downsample(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[list[float]]:
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

    def __init__(self, *, interrupts=(), thresholds: dict | None = None):
        super().__init__(interrupts=interrupts)
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}

    @contextmanager
    def open(self, target, window):
        config = target.config
        url = config.get("url")
        if not url:
            raise ConfigurationError(f"prometheus target {target.name}: no url")
        headers = {}
        if config.get("auth_header_env"):
            try:
                value = secret_env_read(config["auth_header_env"])
            except SecretEnvRefused as exc:
                raise ConfigurationError(f"auth_header_env: {exc.message}") from None
            if not value:
                raise ConfigurationError(f"environment variable {config['auth_header_env']} is not set")
            headers["Authorization"] = value
        metrics = {**DEFAULT_METRICS, **(config.get("metrics") or {})}
        labels = dict(config.get("labels") or {})
        selector = label_matchers(labels)
        container_selector = metrics["container_selector"]
        if not container_selector:
            service = labels.get("service") or labels.get("app") or target.name
            container_selector = (
                f'{metrics["pod_label"]}=~"{_regex_literal(service)}-.*",container!="",container!="POD"'
            )
        client = PrometheusConnect(url=url, headers=headers, disable_ssl=False, timeout=10)
        try:
            client._session.get(f"{url.rstrip('/')}/-/ready", headers=headers, timeout=5).raise_for_status()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise CollectorError(f"Prometheus refused access ({status})", permanent=True) from exc
            raise CollectorError(f"Prometheus not ready ({status})", permanent=False) from exc
        except requests.RequestException as exc:
            raise CollectorError(f"Prometheus unreachable at {url}: {type(exc).__name__}", permanent=False) from exc
        baseline_length = max(window.seconds, 3600.0)
        baseline = Window(start=window.start - timedelta(seconds=baseline_length), now=window.start)
        yield Session(client, metrics, selector, container_selector, baseline)

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
        return Finding(
            check=self.check_id(name),
            status="no_data",
            summary=f"No data: {reason}",
            subject=session.selector or session.container_selector,
            evidence=Evidence(query=query, range=self._range_evidence(window, session, step_for(window))),
        )

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
        warn, crit = self.thresholds["error_rate_warn"], self.thresholds["error_rate_crit"]
        status = "crit" if peak > crit else "warn" if peak > warn else "ok"
        started = next((ts for ts, v in points if v > warn), None)
        summary = f"5xx ratio peaked at {_pct(peak)} at {_at(peak_ts)} (baseline {_pct(base)})"
        if started is not None:
            summary += f"; above {_pct(warn)} since {_at(started)}"
        evidence = Evidence(
            query=query,
            observed=round(peak, 6),
            threshold=crit if status == "crit" else warn,
            unit="ratio",
            series=[{"name": "5xx ratio", "points": downsample(points)}],
            range=self._range_evidence(window, session, step)
            | {"baseline": round(base, 6), "started": started, "suggested_severity": "P1" if peak > crit else None},
        )
        return Finding(
            check=self.check_id("error_rate"),
            status=status,
            summary=summary,
            subject=session.selector,
            evidence=evidence,
            remediation=(
                "Group the errors in the logs (the log analysis findings), check recent deploys and upstream "
                "dependencies; an error rate above 5% is a P1."
            )
            if status != "ok"
            else "",
            runbook="high-error-rate" if status != "ok" else None,
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
        warn, crit = self.thresholds["latency_ratio_warn"], self.thresholds["latency_ratio_crit"]
        status = "ok"
        if ratio is not None and peak >= self.thresholds["latency_min_seconds"]:
            status = "crit" if ratio >= crit else "warn" if ratio >= warn else "ok"
        summary = f"P95 latency peaked at {_duration(peak)} at {_at(peak_ts)}"
        if base_p95:
            summary += f" vs {_duration(base_p95)} before ({ratio:.1f}×)"
        if peak99 is not None:
            summary += f"; P99 {_duration(peak99)}"
        return Finding(
            check=self.check_id("latency"),
            status=status,
            summary=summary,
            subject=session.selector,
            evidence=Evidence(
                query=q95,
                observed=round(peak, 6),
                threshold=round(base_p95 * (crit if status == "crit" else warn), 6) if base_p95 else None,
                unit="seconds",
                series=[
                    {"name": "P95", "points": downsample(p95)},
                    {"name": "P99", "points": downsample(p99)},
                ],
                range=self._range_evidence(window, session, step) | {"baseline": base_p95, "ratio": ratio},
            ),
            remediation="Look for slow queries and saturated dependencies (the PostgreSQL findings) and CPU "
            "throttling; compare with the last deploy."
            if status != "ok"
            else "",
            runbook="slow-queries" if status != "ok" else None,
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
        status, summary = "ok", f"{mean:.1f} req/s during the incident vs {base:.1f} req/s before"
        if base > 0 and low <= base * 0.02:
            status, summary = (
                "crit",
                f"Traffic dropped to {low:.2f} req/s (from {base:.1f} req/s before): nothing is getting through",
            )
        elif base > 0 and mean < base * (1 - self.thresholds["traffic_drop_warn"]):
            status, summary = "warn", f"Traffic fell {1 - mean / base:.0%}: {mean:.1f} req/s vs {base:.1f} req/s before"
        elif base > 0 and high > base * self.thresholds["traffic_spike_warn"]:
            status, summary = (
                "warn",
                f"Traffic spiked to {high:.1f} req/s ({high / base:.1f}× the {base:.1f} req/s before)",
            )
        return Finding(
            check=self.check_id("request_rate"),
            status=status,
            summary=summary,
            subject=session.selector,
            evidence=Evidence(
                query=query,
                observed=round(mean, 4),
                threshold=round(base, 4),
                unit="req/s",
                series=[{"name": "requests/s", "points": downsample(baseline + points)}],
                range=self._range_evidence(window, session, step) | {"baseline": base},
            ),
            remediation={
                "crit": "No traffic reaches the service: check the ingress, the Service's endpoints and upstream "
                "callers.",
                "warn": "A traffic change this large explains saturation or an upstream problem; check callers and "
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
            if len(points) < 10:
                continue
            slope, _, r2 = linear_fit(points)
            mb_per_hour = slope * 3600 / 1e6
            current = points[-1][1]
            limit = limits.get(pod)
            hours_to_limit = (limit - current) / (slope * 3600) if limit and slope > 0 and limit > current else None
            leaking = mb_per_hour >= self.thresholds["leak_min_mb_per_hour"] and r2 >= self.thresholds["leak_min_r2"]
            if not leaking:
                findings.append(
                    Finding(
                        check=self.check_id("memory_leak"),
                        status="ok",
                        summary=f"No steady growth: memory floor {mb_per_hour:+.1f} MB/h (R² {r2:.2f})",
                        subject=pod,
                        evidence=Evidence(
                            query=query,
                            observed=round(mb_per_hour, 2),
                            threshold=self.thresholds["leak_min_mb_per_hour"],
                            unit="MB/h",
                            series=[{"name": "memory floor", "points": downsample(points)}],
                            range=self._range_evidence(window, session, step) | {"r2": round(r2, 3)},
                        ),
                    )
                )
                continue
            status = "warn"
            summary = f"Memory floor growing {mb_per_hour:.1f} MB/h (R² {r2:.2f})"
            if hours_to_limit is not None:
                summary += f"; reaches the {limit / 2**20:.0f} MiB limit in ~{hours_to_limit:.1f} h"
                if hours_to_limit <= self.thresholds["leak_crit_hours_to_limit"]:
                    status = "crit"
            findings.append(
                Finding(
                    check=self.check_id("memory_leak"),
                    status=status,
                    summary=summary,
                    subject=pod,
                    evidence=Evidence(
                        query=query,
                        observed=round(mb_per_hour, 2),
                        threshold=self.thresholds["leak_min_mb_per_hour"],
                        unit="MB/h",
                        series=[{"name": "memory floor", "points": downsample(points)}],
                        range=self._range_evidence(window, session, step)
                        | {"r2": round(r2, 3), "limit": limit, "hours_to_limit": hours_to_limit},
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
            self.thresholds["memory_warn"], self.thresholds["memory_crit"],
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
            session, window, "cpu_saturation", query, "CPU", self.thresholds["cpu_warn"], self.thresholds["cpu_crit"],
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
            session, window, "cpu_throttling", query, "CPU throttling", self.thresholds["throttling_warn"],
            self.thresholds["throttling_crit"],
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
            status = "crit" if peak > crit else "warn" if peak > warn else "ok"
            findings.append(
                Finding(
                    check=self.check_id(name),
                    status=status,
                    summary=f"{label} at {_pct(peak)} of the limit at {_at(peak_ts)} (now {_pct(points[-1][1])})",
                    subject=pod,
                    evidence=Evidence(
                        query=query,
                        observed=round(peak, 4),
                        threshold=crit if status == "crit" else warn,
                        unit="ratio",
                        series=[{"name": f"{label} / limit", "points": downsample(points)}],
                        range=self._range_evidence(window, session, step),
                    ),
                    remediation=remediation if status != "ok" else "",
                    runbook=runbook if status != "ok" else None,
                )
            )
        return findings
