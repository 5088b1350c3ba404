"""Likely causes: an incident's findings (every collector, every run) turned into ranked hypotheses.

Pure functions, no Django: ``hypotheses_for(findings)`` runs every rule of
``rules.RULES`` over the findings and ranks what they yield. Storing the result,
the timeline entry when the top hypothesis changes, and the API live in
``diagnostics.hypotheses``.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

from diagnostics.analysis.facts import SEVERITY, Facts, FindingRef
from diagnostics.analysis.rules import RULES, Hypothesis

# Hypotheses below this confidence are not worth an engineer's attention: a healthy service yields none above it.
FLOOR = 0.15
SHOWN = 10

__all__ = ["FLOOR", "FindingRef", "Hypothesis", "hypotheses_for", "hypotheses_rank"]


def hypotheses_rank(hypotheses: Iterable[Hypothesis]) -> list[Hypothesis]:
    """Highest confidence first; ties broken by the severity of the evidence, then its recency, then the key
    and title, so the same findings always give the same order."""
    far = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        hypotheses,
        key=lambda h: (
            -round(h.confidence, 2),
            SEVERITY.get(h.severity, 9),
            -(h.latest or far).timestamp(),
            h.key,
            h.title,
        ),
    )
    for rank, hypothesis in enumerate(ranked, start=1):
        hypothesis.rank = rank
    return ranked


def hypotheses_for(findings: Iterable[FindingRef]) -> list[Hypothesis]:
    facts = Facts(findings)
    found = [h for rule in RULES for h in rule.evaluate(facts) if h.confidence >= FLOOR]
    return hypotheses_rank(found)[:SHOWN]
