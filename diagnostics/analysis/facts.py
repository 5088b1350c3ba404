"""What the rules read: the incident's findings, from every run, as plain values.

Pure Python (no Django): ``FindingRef`` carries one finding with the run it came
from, ``Facts`` answers the questions rules ask ("the latest connection
saturation", "every pod in CrashLoopBackOff", "log patterns of this family").
Evidence is read defensively: a finding that lacks a key, or carries a value of
an unexpected type, is treated as silent, never as a crash.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from diagnostics.collectors.base import STATUS_ORDER

# Worst first.
SEVERITY = {status.value: rank for rank, status in enumerate(STATUS_ORDER)}
TROUBLE = ("crit", "warn")


@dataclass(frozen=True)
class FindingRef:
    """One finding of one run: the rule's unit of evidence."""

    run: int
    collector: str
    target: str
    check: str
    status: str
    summary: str = ""
    subject: str = ""
    evidence: dict = field(default_factory=dict, compare=False, hash=False)
    at: datetime | None = None  # when the run finished

    @classmethod
    def of(cls, finding: dict, *, run: int, collector: str = "", target: str = "", at=None) -> "FindingRef":
        evidence = finding.get("evidence")
        return cls(
            run=run,
            collector=collector,
            target=target,
            check=str(finding.get("check") or ""),
            status=str(finding.get("status") or ""),
            summary=str(finding.get("summary") or ""),
            subject=str(finding.get("subject") or ""),
            evidence=evidence if isinstance(evidence, dict) else {},
            at=at,
        )

    @property
    def link(self) -> dict:
        return {"run": self.run, "check": self.check, "subject": self.subject}

    @property
    def troubled(self) -> bool:
        return self.status in TROUBLE

    @property
    def observed(self):
        return self.evidence.get("observed")

    @property
    def data(self) -> dict:
        """The collector's structured extras (``evidence.data``), {} when absent."""
        return _dict(self.evidence.get("data"))

    def datum(self, key: str, default: str = "") -> str:
        """A text value of ``evidence.data``, or ``default``."""
        value = self.data.get(key)
        return value if isinstance(value, str) and value else default

    def number(self, key: str = "observed") -> float | None:
        """A numeric evidence value (``observed`` or a key of ``range``), or None."""
        value = self.evidence.get(key) if key == "observed" else _dict(self.evidence.get("range")).get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def range(self, key: str):
        return _dict(self.evidence.get("range")).get(key)

    def table_rows(self) -> list[dict]:
        """The evidence table as records (column → value); [] when absent or malformed."""
        table = _dict(self.evidence.get("table"))
        columns = table.get("columns")
        rows = table.get("rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            return []
        return [dict(zip(columns, row, strict=False)) for row in rows if isinstance(row, list)]

    def text(self) -> str:
        """Summary and evidence text together, for phrase matching."""
        parts = [self.summary, str(self.observed or "")]
        parts += [str(value) for row in self.table_rows() for value in row.values() if isinstance(value, str)]
        for key in ("message", "reason", "decisive_line", "sample"):
            value = self.data.get(key)
            if isinstance(value, str):
                parts.append(value)
        return "\n".join(parts)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


parse_time = _time


class Facts:
    """The incident's findings, newest run first, with the questions rules ask of them.

    ``current`` keeps one finding per (collector, target, check, subject): the one of the
    newest run. A later healthy reading therefore replaces an earlier bad one, and two
    runs saying the same thing count once.
    """

    def __init__(self, findings: Iterable[FindingRef]):
        far = datetime.min.replace(tzinfo=UTC)
        # Newest run first; within a run, a fixed order, so rules see the same list whatever order they came in.
        ordered = sorted(findings, key=lambda f: (f.at or far, f.run, _order(f)), reverse=True)
        self.all = ordered
        seen: set[tuple] = set()
        current = []
        for finding in ordered:
            key = (finding.collector, finding.target, finding.check, finding.subject)
            if key in seen:
                continue
            seen.add(key)
            current.append(finding)
        self.current = current

    def checks(self, *prefixes: str, statuses: Iterable[str] | None = None) -> list[FindingRef]:
        """Current findings whose check is one of ``prefixes`` or below one (``kubernetes.logs.pattern``)."""
        wanted = set(statuses) if statuses is not None else None
        return [
            f
            for f in self.current
            if any(f.check == p or f.check.startswith(p + ".") for p in prefixes)
            and (wanted is None or f.status in wanted)
        ]

    def troubled(self, *prefixes: str) -> list[FindingRef]:
        return self.checks(*prefixes, statuses=TROUBLE)

    def ever(self, *prefixes: str, statuses: Iterable[str] = TROUBLE) -> list[FindingRef]:
        """Like ``checks`` over every run: a crash seen once stays evidence after the pod recovered."""
        wanted = set(statuses)
        return [
            f
            for f in self.all
            if any(f.check == p or f.check.startswith(p + ".") for p in prefixes) and f.status in wanted
        ]

    def log_patterns(self, *ids: str) -> list[FindingRef]:
        """Log-pattern findings (any collector's ``….logs.pattern.<id>``) of these pattern ids, current."""
        return [f for f in self.current if _pattern_id(f.check) in ids and f.status in TROUBLE]

    def pods(self, *problems: str) -> list[FindingRef]:
        """Troubled pod findings (any run) of these problems (``crash_loop``, ``image_pull``, …).

        The collector names the problem in ``evidence.data.problem``; older findings carry only a
        summary and an ``observed`` reason, read through ``POD_PROBLEM_SIGNS``.
        """
        found = []
        for f in self.ever("kubernetes.pods"):
            if f.check != "kubernetes.pods":
                continue
            problem = f.datum("problem") or _pod_problem(f)
            if problem in problems:
                found.append(f)
        return _dedupe(found)

    def logs_of(self, pod: str) -> list[FindingRef]:
        """Log findings about a pod (its error groups and patterns), any run."""
        pod = pod.split("/")[0]
        if not pod:
            return []
        found = []
        for f in self.ever("kubernetes.logs", statuses=("crit", "warn", "error")):
            query = f" {f.evidence.get('query') or ''} "
            source = f.datum("source") or f.subject
            if f.datum("pod") == pod or source.split("/")[0] == pod or f" {pod} " in query:
                found.append(f)
        return found


def _order(f: FindingRef) -> tuple:
    return (-SEVERITY.get(f.status, 9), f.check, f.subject, f.summary, f.target)


def _pattern_id(check: str) -> str:
    head, sep, tail = check.rpartition(".pattern.")
    return tail if sep and head.endswith("logs") else ""


def pattern_id(check: str) -> str:
    return _pattern_id(check)


def _dedupe(findings: list[FindingRef]) -> list[FindingRef]:
    seen, kept = set(), []
    for f in findings:
        key = (f.check, f.subject, f.summary)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    return kept


def distinct(findings: Iterable[FindingRef]) -> list[FindingRef]:
    """The findings with one per (run, check, subject), the first kept: what an evidence list links to."""
    seen, kept = set(), []
    for f in findings:
        if (f.run, f.check, f.subject) not in seen:
            seen.add((f.run, f.check, f.subject))
            kept.append(f)
    return kept


def worst(findings: Iterable[FindingRef]) -> str:
    return min((f.status for f in findings), key=lambda s: SEVERITY.get(s, 9), default="ok")


# How a pod finding without ``data.problem`` says which problem it is: (problem, observed values, summary regex).
POD_PROBLEM_SIGNS = (
    ("crash_loop", (), r"CrashLoopBackOff"),
    ("oom_killed", ("OOMKilled",), r"\bOOMKilled\b"),
    ("image_pull", ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"), r"cannot pull"),
    ("config_error", ("CreateContainerConfigError",), r"CreateContainerConfigError"),
    ("unschedulable", (), r"unschedulable"),
    ("pending", ("Pending",), r"is Pending"),
    ("evicted", ("Evicted",), r"was evicted"),
    ("not_ready", ("NotReady",), r"running but not ready"),
    ("restarts", (), r"restarted \d+ times"),
)


def _pod_problem(finding: FindingRef) -> str:
    observed = str(finding.observed or "")
    for problem, values, summary in POD_PROBLEM_SIGNS:
        if re.search(summary, finding.summary):
            return problem
        if observed in values:
            return problem
    return ""
