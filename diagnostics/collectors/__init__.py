"""Collectors by kind. A target of a kind without a collector here gets no runs (yet)."""

from diagnostics.collectors.base import Collector
from diagnostics.collectors.postgres import PostgresCollector

COLLECTORS: dict[str, type[Collector]] = {
    PostgresCollector.kind: PostgresCollector,
}


def collector_class(kind: str) -> type[Collector] | None:
    return COLLECTORS.get(kind)
