"""Collectors by kind. A target of a kind without a collector here gets no runs (yet)."""

from diagnostics.collectors.base import Collector
from diagnostics.collectors.http import HttpCollector
from diagnostics.collectors.kubernetes import KubernetesCollector
from diagnostics.collectors.postgres import PostgresCollector
from diagnostics.collectors.prometheus import PrometheusCollector
from diagnostics.collectors.tracing import TracingCollector

COLLECTORS: dict[str, type[Collector]] = {
    PostgresCollector.kind: PostgresCollector,
    PrometheusCollector.kind: PrometheusCollector,
    KubernetesCollector.kind: KubernetesCollector,
    TracingCollector.kind: TracingCollector,
    HttpCollector.kind: HttpCollector,
}


def collector_class(kind: str) -> type[Collector] | None:
    return COLLECTORS.get(kind)
