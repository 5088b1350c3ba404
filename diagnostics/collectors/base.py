"""The collector interface: plain Python, no Celery, no Django models.

A collector inspects one target (a PostgreSQL database, a Kubernetes workload,
a Prometheus job) over a time window and returns findings. Each check is its
own method; a check that raises becomes an ``error`` finding with the reason,
and the others still run. Failing to reach the target at all raises
``CollectorError``: transient errors (refused, timed out) may be retried,
permanent ones (bad credentials, missing configuration) may not.
"""

import datetime as dt
import decimal
import enum
import ipaddress
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar


class FindingStatus(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRIT = "crit"
    NO_DATA = "no_data"
    ERROR = "error"


# Worst first. A check that could not run (error) may hide a problem, so it
# ranks above a warning; no_data is evidence of absence, ranked just above ok.
STATUS_ORDER: tuple[str, ...] = ("crit", "error", "warn", "no_data", "ok")


def worst_status(statuses) -> str | None:
    present = set(statuses)
    return next((s for s in STATUS_ORDER if s in present), None)


def jsonable(value: Any) -> Any:
    """Values from drivers (Decimal, datetime, timedelta, …) as JSON-friendly ones."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, decimal.Decimal):
        return float(round(value, 4))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds(), 3)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


@dataclass
class Table:
    """A small table of evidence: column names and rows of values."""

    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "rows": [[jsonable(v) for v in row] for row in self.rows]}


@dataclass
class Evidence:
    query: str
    observed: Any = None
    threshold: Any = None
    unit: str = ""
    table: Table | None = None
    series: list | None = None
    range: dict | None = None

    def to_dict(self) -> dict:
        data = {
            "query": self.query,
            "observed": jsonable(self.observed),
            "threshold": jsonable(self.threshold),
            "unit": self.unit,
        }
        if self.table is not None:
            data["table"] = self.table.to_dict()
        if self.series is not None:
            data["series"] = jsonable(self.series)
        if self.range is not None:
            data["range"] = jsonable(self.range)
        return data


@dataclass
class Finding:
    check: str  # dotted: "postgres.connection_saturation"
    status: str
    summary: str  # one line, with the number in it
    subject: str = ""
    evidence: Evidence = field(default_factory=lambda: Evidence(query=""))
    remediation: str = ""
    runbook: str | None = None

    def to_dict(self) -> dict:
        return {
            "check": self.check,
            "status": str(self.status),
            "summary": self.summary,
            "subject": self.subject,
            "evidence": self.evidence.to_dict(),
            "remediation": self.remediation,
            "runbook": self.runbook,
        }


@dataclass(frozen=True)
class TargetSpec:
    """What a collector needs to know about a target: never a secret, only where to read it."""

    kind: str
    name: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Window:
    """The period under investigation; ``now`` is its end, passed in rather than read from a clock."""

    start: dt.datetime
    now: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()


class CollectorError(Exception):
    """The target could not be inspected at all.

    ``permanent`` errors (authentication, missing configuration) are not
    retried; transient ones (refused, timed out, server starting) are.
    ``counts_against_target`` says whether the circuit breaker should count it.
    """

    def __init__(self, message: str, *, permanent: bool, counts_against_target: bool = True):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.counts_against_target = counts_against_target


class ConfigurationError(CollectorError):
    """The target is misconfigured here (e.g. its DSN variable is unset): not the target's fault."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, counts_against_target=False)


Progress = Callable[[int, int, list[Finding]], None]


class Collector:
    """Base of every collector.

    Subclasses set ``kind``, list their check method names in ``checks`` and
    implement ``open()``: a context manager yielding whatever the checks need
    (a connection, an API client). Each check method takes ``(session, window)``
    and returns a Finding or a list of them.
    """

    kind: ClassVar[str]
    checks: ClassVar[tuple[str, ...]] = ()
    soft_time_limit: ClassVar[int] = 60
    time_limit: ClassVar[int] = 90

    def __init__(self, *, interrupts: tuple[type[BaseException], ...] = ()):
        # Exceptions a check must never swallow (e.g. the task runner's time limit).
        self.interrupts = interrupts

    def open(self, target: TargetSpec, window: Window) -> AbstractContextManager:
        raise NotImplementedError

    def check_id(self, name: str) -> str:
        return f"{self.kind}.{name}"

    def checks_for(self, target: TargetSpec) -> tuple[str, ...]:
        """The checks this target gets (some are opt-in per target)."""
        return self.checks

    def collect(self, target: TargetSpec, window: Window, *, progress: Progress | None = None) -> list[Finding]:
        names = self.checks_for(target)
        findings: list[Finding] = []
        with self.open(target, window) as session:
            for done, name in enumerate(names, start=1):
                findings.extend(self.run_check(name, session, window))
                if progress is not None:
                    progress(done, len(names), findings)
        return findings

    def run_check(self, name: str, session, window: Window) -> list[Finding]:
        try:
            result = getattr(self, name)(session, window)
        except self.interrupts:
            raise
        except Exception as exc:
            return [self.error_finding(name, exc, session)]
        return result if isinstance(result, list) else [result]

    def error_finding(self, name: str, exc: Exception, session) -> Finding:
        reason = self.describe_error(exc)
        return Finding(
            check=self.check_id(name),
            status=FindingStatus.ERROR,
            summary=f"Check could not run: {reason}",
            evidence=Evidence(query=getattr(session, "last_query", "") or ""),
        )

    def describe_error(self, exc: Exception) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
