"""The collector interface: plain Python, no Celery, no Django, no settings.

A collector inspects one target (a PostgreSQL database, a Kubernetes workload,
a Prometheus job) over a time window and returns findings. Each check is its
own method; a check that raises becomes an ``error`` finding with the reason,
and the others still run. Failing to reach the target at all raises
``CollectorError``: transient errors (refused, timed out) may be retried,
permanent ones (bad credentials, missing configuration) may not.

Everything a collector needs comes in as arguments: its thresholds and limits
(a frozen ``config_class`` instance, filled from ``DIAGNOSTICS_*`` by
``diagnostics.conf``), the target, the window, and the target's secrets (read
by the engine, ``diagnostics.credentials``). A collector never reads settings
or the environment.

The helpers at the end (``grade``, ``Collector.finding``, ``ok``, ``no_data``)
are how checks build findings, so every check grades and words them alike.
"""

import datetime as dt
import decimal
import enum
import ipaddress
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar


class FindingStatus(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRIT = "crit"
    NO_DATA = "no_data"
    ERROR = "error"


# Worst first. A check that could not run (error) may hide a problem, so it
# ranks above a warning; no_data is evidence of absence, ranked just above ok.
STATUS_ORDER: tuple[FindingStatus, ...] = (
    FindingStatus.CRIT,
    FindingStatus.ERROR,
    FindingStatus.WARN,
    FindingStatus.NO_DATA,
    FindingStatus.OK,
)
# The statuses that call for attention, worst first.
NOTABLE_STATUSES: tuple[FindingStatus, ...] = (FindingStatus.CRIT, FindingStatus.ERROR, FindingStatus.WARN)


def worst_status(statuses) -> FindingStatus | None:
    present = set(statuses)
    return next((s for s in STATUS_ORDER if s in present), None)


def grade(
    value: float, *, warn: float | None, crit: float | None, lower_is_worse: bool = False, inclusive: bool = True
) -> FindingStatus:
    """``value`` graded against its thresholds: crit past ``crit``, warn past ``warn``, else ok.

    Higher is worse unless ``lower_is_worse`` (a cache hit rate). ``inclusive``: a value equal
    to a threshold is past it. A threshold of None is never crossed.
    """

    def past(threshold: float | None) -> bool:
        if threshold is None:
            return False
        if lower_is_worse:
            return value <= threshold if inclusive else value < threshold
        return value >= threshold if inclusive else value > threshold

    return FindingStatus.CRIT if past(crit) else FindingStatus.WARN if past(warn) else FindingStatus.OK


def crossed(status: FindingStatus, *, warn: float, crit: float) -> float:
    """The threshold a graded value is shown against: crit for a crit finding, warn otherwise."""
    return crit if status == FindingStatus.CRIT else warn


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

    @classmethod
    def of(cls, records: Iterable[Mapping], columns: Mapping[str, str | Callable[[Mapping], Any]]) -> "Table":
        """A table of ``records``: each column (header → how) reads a key of the record, or computes from it."""
        how = [get if callable(get) else (lambda record, key=get: record[key]) for get in columns.values()]
        return cls(columns=list(columns), rows=[[get(record) for get in how] for record in records])

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
    data: dict | None = None  # machine-readable facts for the analysis (names, codes, reasons)

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
        if self.data is not None:
            data["data"] = jsonable(self.data)
        return data


@dataclass
class Finding:
    check: str  # dotted: "postgres.connection_saturation"
    status: FindingStatus
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
    """What a collector needs to know about a target: never a secret (those come as ``Secrets``)."""

    kind: str
    name: str
    config: Mapping[str, Any]


# A target's secrets by name ("dsn", "auth_header": the target's ``dsn_env`` / ``auth_header_env``
# without ``_env``), read by the engine for one run and passed alongside the TargetSpec, never stored.
Secrets = Mapping[str, str]
NO_SECRETS: Secrets = MappingProxyType({})


@dataclass(frozen=True)
class CollectorConfig:
    """Base of a collector's thresholds and limits: a frozen dataclass whose fields have defaults.

    ``diagnostics.conf`` fills each field from ``DIAGNOSTICS_<KIND>_<FIELD>`` when set.
    """


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

    Subclasses set ``kind``, their ``config_class``, list their check method
    names in ``checks`` and implement ``open()``: a context manager yielding
    whatever the checks need (a connection, an API client). Each check method
    takes ``(session, window)`` and returns a Finding or a list of them.
    """

    kind: ClassVar[str]
    config_class: ClassVar[type[CollectorConfig]] = CollectorConfig
    checks: ClassVar[tuple[str, ...]] = ()
    soft_time_limit: ClassVar[int] = 60
    time_limit: ClassVar[int] = 90

    def __init__(self, *, config: CollectorConfig | None = None, interrupts: tuple[type[BaseException], ...] = ()):
        # Without a configuration, the defaults: the engine passes the configured one.
        self.config = config if config is not None else self.config_class()
        # Exceptions a check must never swallow (e.g. the task runner's time limit).
        self.interrupts = interrupts

    def open(self, target: TargetSpec, window: Window, secrets: Secrets = NO_SECRETS) -> AbstractContextManager:
        raise NotImplementedError

    def check_id(self, name: str) -> str:
        return f"{self.kind}.{name}"

    def checks_for(self, target: TargetSpec) -> tuple[str, ...]:
        """The checks this target gets (some are opt-in per target)."""
        return self.checks

    def collect(
        self,
        target: TargetSpec,
        window: Window,
        *,
        secrets: Secrets = NO_SECRETS,
        progress: Progress | None = None,
    ) -> list[Finding]:
        names = self.checks_for(target)
        findings: list[Finding] = []
        with self.open(target, window, secrets) as session:
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
        return self.finding(
            name,
            FindingStatus.ERROR,
            f"Check could not run: {reason}",
            evidence=Evidence(query=getattr(session, "last_query", "") or ""),
        )

    def describe_error(self, exc: Exception) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    # Building findings ------------------------------------------------------------------

    def finding(
        self,
        name: str,
        status: FindingStatus,
        summary: str,
        *,
        subject: str = "",
        evidence: Evidence | None = None,
        remediation: str = "",
        runbook: str | None = None,
    ) -> Finding:
        """A finding of the check ``name``. An ok one has nothing to remedy: no remediation, no runbook."""
        if status == FindingStatus.OK:
            remediation, runbook = "", None
        return Finding(
            check=self.check_id(name),
            status=FindingStatus(status),
            summary=summary,
            subject=subject,
            evidence=evidence if evidence is not None else Evidence(query=""),
            remediation=remediation,
            runbook=runbook,
        )

    def ok(self, name: str, summary: str, *, subject: str = "", evidence: Evidence | None = None) -> Finding:
        return self.finding(name, FindingStatus.OK, summary, subject=subject, evidence=evidence)

    def no_data(self, name: str, summary: str, **details) -> Finding:
        """Nothing to judge (no series, an extension missing): kept, as evidence of absence.

        ``details``: ``subject``, ``evidence``, ``remediation``, ``runbook``, as for ``finding``.
        """
        return self.finding(name, FindingStatus.NO_DATA, summary, **details)
