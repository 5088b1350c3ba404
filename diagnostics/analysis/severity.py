"""Severity the evidence supports: pure rules over the findings (no Django).

An error ratio above 5 % or a user-facing latency rise meets P1; a service fully down meets P0
(no traffic getting through, no replica available, no pod at all, or nearly every request
failing), and so does data loss (logs saying stored data is damaged or a write did not reach
the disk). Only a severity higher than the incident's is ever suggested; never a lower one.
"""

from dataclasses import dataclass

from diagnostics.analysis.facts import Facts, FindingRef, distinct

P1_ERROR_RATIO = 0.05
P0_ERROR_RATIO = 0.95


@dataclass
class Suggestion:
    severity: str
    reasons: list[str]
    evidence: list[FindingRef]

    @property
    def text(self) -> str:
        return f"Evidence suggests {self.severity}: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        links = [f.link for f in distinct(self.evidence)]
        return {"severity": self.severity, "text": self.text, "reasons": self.reasons, "evidence": links}


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def _criteria(facts: Facts) -> dict[str, Suggestion]:
    met: dict[str, Suggestion] = {}

    def add(severity: str, reason: str, finding: FindingRef) -> None:
        suggestion = met.setdefault(severity, Suggestion(severity, [], []))
        suggestion.reasons.append(reason)
        suggestion.evidence.append(finding)

    for f in facts.checks("prometheus.error_rate"):
        ratio = f.number()
        if ratio is None:
            continue
        if ratio >= P0_ERROR_RATIO:
            add("P0", f"error ratio {_pct(ratio)}: the service is down", f)
        elif ratio > P1_ERROR_RATIO:
            add("P1", f"error ratio {_pct(ratio)} (> {_pct(P1_ERROR_RATIO).replace('.0', '')})", f)
    for f in facts.checks("prometheus.latency", statuses=("crit",)):
        ratio = f.number("ratio")
        add("P1", "user-facing latency: " + (f"P95 {ratio:.1f}× its baseline" if ratio else "P95 far above normal"), f)
    for f in facts.checks("prometheus.request_rate", statuses=("crit",)):
        add("P0", f"service down: {f.summary}", f)
    for f in facts.checks("kubernetes.deployment", statuses=("crit",)):
        if " 0 of " in f.summary:
            add("P0", f"service down: {f.summary}", f)
    for f in facts.checks("kubernetes.pods", statuses=("crit",)):
        if f.summary.startswith("No pods match"):
            add("P0", f"service down: {f.summary}", f)
    for f in facts.log_patterns("data_corruption", "corruption_reported"):
        samples = [r.get("sample") for r in f.table_rows() if isinstance(r.get("sample"), str)]
        line = next((sample.strip() for sample in samples if sample.strip()), f.summary)
        add("P0", f"data at risk in {f.subject}: {line}"[:240], f)
    return met


def severity_suggestion(facts: Facts, current: str) -> Suggestion | None:
    """The highest severity the evidence meets, if it is higher than ``current`` (P0 is the highest)."""
    met = _criteria(facts)
    for severity in ("P0", "P1"):
        if severity in met and severity < current:
            return met[severity]
    return None
