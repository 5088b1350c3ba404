"""Impact of an incident, measured in Prometheus: requests failed, error rate, response time before vs during.

A report contributor (``incidents.reports.on_draft``, registered in
``DiagnosticsConfig.ready()``): called while a report is drafted, outside any
transaction and with no lock held, for a service with a Prometheus target. The
figures use the target's metric names (the same configuration as the
Prometheus collector) and explicit evaluation times, so they describe the
incident's window even when drafted later.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from diagnostics.collectors.prometheus import DEFAULT_METRICS, join_matchers, label_matchers
from diagnostics.models import Target
from incidents.models import Incident
from incidents.reports import DraftContribution
from orion_ops.secret_env import SecretEnvRefused, secret_env_read

logger = logging.getLogger(__name__)
TIMEOUT = 3


@dataclass
class Impact:
    service: str
    requests_total: float | None
    requests_failed: float | None
    error_rate_peak: float | None
    error_rate_average: float | None
    latency_before: float | None
    latency_during: float | None
    latency_kind: str  # "average" or "median"

    def lines(self) -> list[str]:
        lines = []
        if self.requests_failed is not None and self.requests_total:
            lines.append(
                f"- {self.requests_failed:,.0f} requests failed of {self.requests_total:,.0f} on {self.service} "
                f"({self.error_rate_average:.1%} error rate)"
            )
        if self.error_rate_peak is not None:
            lines.append(f"- Peak error rate {self.error_rate_peak:.1%}")
        if self.latency_before is not None and self.latency_during is not None:
            lines.append(
                f"- {self.latency_kind.capitalize()} response time increased from {_ms(self.latency_before)} "
                f"to {_ms(self.latency_during)}"
                if self.latency_during >= self.latency_before
                else f"- {self.latency_kind.capitalize()} response time went from {_ms(self.latency_before)} "
                f"to {_ms(self.latency_during)}"
            )
        return lines

    def data(self) -> dict:
        return asdict(self)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _scalar(client: PrometheusConnect, query: str, at: datetime) -> float | None:
    result = client.custom_query(query, params={"time": at.timestamp()}, timeout=TIMEOUT)
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value if value == value else None  # NaN → None


def incident_impact(*, service: str, config: dict, start: datetime, end: datetime) -> Impact:
    """Measure over [start, end] and compare latency with the hour before ``start``."""
    metrics = {**DEFAULT_METRICS, **(config.get("metrics") or {})}
    selector = label_matchers(config.get("labels") or {})
    client = PrometheusConnect(url=config["url"], headers=_headers(config), timeout=TIMEOUT)
    seconds = max(int((end - start).total_seconds()), 60)
    span = f"{seconds}s"
    total_q = f"sum(increase({metrics['requests_total']}{{{selector}}}[{span}]))"
    five_xx = join_matchers(selector, f'{metrics["status_label"]}=~"5.."')
    failed_q = f"sum(increase({metrics['requests_total']}{{{five_xx}}}[{span}]))"
    total = _scalar(client, total_q, end)
    failed = _scalar(client, failed_q, end) if total else None
    failed = failed or (0.0 if total else None)
    ratio = (
        f"(sum(rate({metrics['requests_total']}{{{five_xx}}}[5m])) or vector(0)) / "
        f"sum(rate({metrics['requests_total']}{{{selector}}}[5m]))"
    )
    step = max(15, seconds // 200)
    series = client.custom_query_range(ratio, start_time=start, end_time=end, step=f"{step}s", timeout=TIMEOUT)
    values = [float(v) for _, v in (series[0]["values"] if series else []) if float(v) == float(v)]
    peak = max(values) if values else None

    base = metrics["duration_bucket"].removesuffix("_bucket")
    hour = "3600s"
    mean_q = "sum(rate({m}_sum{{{s}}}[{w}])) / sum(rate({m}_count{{{s}}}[{w}]))"
    before = _scalar(client, mean_q.format(m=base, s=selector, w=hour), start)
    during = _scalar(client, mean_q.format(m=base, s=selector, w=span), end)
    kind = "average"
    if before is None or during is None:
        median_q = "histogram_quantile(0.5, sum by (le) (rate({b}{{{s}}}[{w}])))"
        before = _scalar(client, median_q.format(b=metrics["duration_bucket"], s=selector, w=hour), start)
        during = _scalar(client, median_q.format(b=metrics["duration_bucket"], s=selector, w=span), end)
        kind = "median"
    return Impact(
        service=service,
        requests_total=total,
        requests_failed=failed,
        error_rate_peak=peak,
        error_rate_average=(failed / total) if total else None,
        latency_before=before,
        latency_during=during,
        latency_kind=kind,
    )


def _headers(config: dict) -> dict:
    name = config.get("auth_header_env")
    value = secret_env_read(name) if name else ""
    return {"Authorization": value} if value else {}


def report_impact(incident: Incident) -> DraftContribution | None:
    """The Impact lines and figures from the first Prometheus target of the incident's services, or None."""
    target = (
        Target.objects.filter(service__in=incident.services.all(), kind="prometheus").select_related("service").first()
    )
    if target is None or incident.resolved_at is None:
        return None
    end = incident.resolved_at
    start = incident.detected_at
    try:
        impact = incident_impact(service=target.service.slug, config=target.config, start=start, end=end)
    except SecretEnvRefused as exc:
        logger.warning("impact of %s: auth_header_env: %s", incident.reference, exc.message)
        return DraftContribution(impact_lines=(f"- (Prometheus was not queried: auth_header_env: {exc.message})",))
    except (requests.RequestException, PrometheusApiClientException, KeyError, ValueError) as exc:
        logger.warning("impact of %s: Prometheus query failed: %s", incident.reference, exc)
        return DraftContribution(
            impact_lines=(f"- (Prometheus could not be queried when this was drafted: {type(exc).__name__})",)
        )
    return DraftContribution(impact_lines=tuple(impact.lines()), impact_data=impact.data())
