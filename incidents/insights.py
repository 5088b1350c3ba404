"""Insights for managers: MTTA, MTTR, SLA compliance, time in each state, recurring incidents, trends.

Everything is an SQL aggregate over the period (a fixed number of queries, however
many incidents there are). MTTA is detected → acknowledged, MTTR detected →
resolved; an incident whose deadline passed without an acknowledgement counts
as an SLA breach. Medians use PostgreSQL's percentile_cont; on the embedded
SQLite database they are computed in Python over the period's rows.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from incidents.models import ActionItem, ActionItemStatus, Incident, Report, Service, Severity

SEVERITIES = list(Severity.values)


class _Epoch(Func):
    """Seconds between two timestamps, in the database's own arithmetic."""

    output_field = FloatField()

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))", arg_joiner=" - ")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday("
        )


class _Median(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def seconds_between(end: str, start: str) -> _Epoch:
    return _Epoch(F(end), F(start))


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> "Period":
        now = now or timezone.now()
        return cls(start=now - timedelta(days=days), end=now)


def incidents_in(period: Period, service: Service | None = None) -> QuerySet[Incident]:
    queryset = Incident.objects.filter(detected_at__gte=period.start, detected_at__lt=period.end)
    if service is not None:
        queryset = queryset.filter(services=service)
    return queryset


def _round(value):
    return None if value is None else round(float(value), 1)


def _medians(queryset: QuerySet[Incident]) -> dict[str, dict[str, float | None]]:
    """Median MTTA and MTTR per severity: one grouped query on PostgreSQL."""
    if connection.vendor == "postgresql":
        rows = (
            queryset.values("severity")
            .annotate(
                mtta=_Median(
                    seconds_between("acknowledged_at", "detected_at"), filter=Q(acknowledged_at__isnull=False)
                ),
                mttr=_Median(seconds_between("resolved_at", "detected_at"), filter=Q(resolved_at__isnull=False)),
            )
            .order_by()
        )
        return {row["severity"]: {"mtta": _round(row["mtta"]), "mttr": _round(row["mttr"])} for row in rows}
    values: dict[str, dict[str, list[float]]] = {}
    for severity, detected, acknowledged, resolved in queryset.values_list(
        "severity", "detected_at", "acknowledged_at", "resolved_at"
    ):
        bucket = values.setdefault(severity, {"mtta": [], "mttr": []})
        if acknowledged:
            bucket["mtta"].append((acknowledged - detected).total_seconds())
        if resolved:
            bucket["mttr"].append((resolved - detected).total_seconds())
    return {
        severity: {name: _round(statistics.median(xs)) if xs else None for name, xs in bucket.items()}
        for severity, bucket in values.items()
    }


def insights(*, period: Period, service: Service | None = None, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    incidents = incidents_in(period, service)

    # One pass over the period: every per-severity, per-week and time-in-state figure is a
    # sum and a count per (week, severity), added up here; only the medians need a second look.
    due = Q(acknowledged_at__isnull=False) | Q(ack_due_at__lte=now)
    met = Q(acknowledged_at__isnull=False, acknowledged_at__lte=F("ack_due_at"))
    acked, resolved = Q(acknowledged_at__isnull=False), Q(resolved_at__isnull=False)
    spans = {
        "mtta": (seconds_between("acknowledged_at", "detected_at"), acked),
        "mttr": (seconds_between("resolved_at", "detected_at"), resolved),
        "detected": (
            _Epoch(Coalesce("acknowledged_at", "diagnosing_at", "mitigated_at", "resolved_at"), F("detected_at")),
            None,
        ),
        "acknowledged": (_Epoch(Coalesce("diagnosing_at", "mitigated_at", "resolved_at"), F("acknowledged_at")), acked),
        "diagnosing": (
            _Epoch(Coalesce("mitigated_at", "resolved_at"), F("diagnosing_at")),
            Q(diagnosing_at__isnull=False),
        ),
        "mitigated": (seconds_between("resolved_at", "mitigated_at"), Q(mitigated_at__isnull=False)),
    }
    sums = {}
    for name, (span, only) in spans.items():
        sums[f"{name}_sum"] = Sum(span, filter=only)
        sums[f"{name}_n"] = Count(span, filter=only)
    cells = list(
        incidents.annotate(week=TruncWeek("detected_at"))
        .values("week", "severity")
        .annotate(
            count=Count("id"),
            resolved=Count("id", filter=resolved),
            sla_due=Count("id", filter=due),
            sla_met=Count("id", filter=met),
            **sums,
        )
        .order_by("week", "severity")
    )
    rows: dict[str, dict] = {}
    weekly: dict[str, dict] = {}
    totals = {name: [0.0, 0] for name in spans}
    for cell in cells:
        row = rows.setdefault(cell["severity"], {"count": 0, "resolved": 0, "sla_due": 0, "sla_met": 0})
        for name in ("count", "resolved", "sla_due", "sla_met"):
            row[name] += cell[name]
        for name in ("mtta", "mttr"):
            pair = row.setdefault(name, [0.0, 0])
            pair[0] += cell[f"{name}_sum"] or 0.0
            pair[1] += cell[f"{name}_n"]
        for name in spans:
            totals[name][0] += cell[f"{name}_sum"] or 0.0
            totals[name][1] += cell[f"{name}_n"]
        week = cell["week"].date().isoformat() if hasattr(cell["week"], "date") else str(cell["week"])
        bucket = weekly.setdefault(
            week, {"week": week, "incidents": dict.fromkeys(SEVERITIES, 0), "mtta": [0.0, 0], "mttr": [0.0, 0]}
        )
        bucket["incidents"][cell["severity"]] = cell["count"]
        for name in ("mtta", "mttr"):
            bucket[name][0] += cell[f"{name}_sum"] or 0.0
            bucket[name][1] += cell[f"{name}_n"]

    medians = _medians(incidents)
    by_severity = {}
    for severity in SEVERITIES:
        row = rows.get(severity, {})
        due_count, met_count = row.get("sla_due", 0), row.get("sla_met", 0)
        by_severity[severity] = {
            "count": row.get("count", 0),
            "resolved": row.get("resolved", 0),
            "mtta": {"mean": _mean(row.get("mtta")), "median": medians.get(severity, {}).get("mtta")},
            "mttr": {"mean": _mean(row.get("mttr")), "median": medians.get(severity, {}).get("mttr")},
            "sla": {
                "due": due_count,
                "met": met_count,
                "breached": due_count - met_count,
                "compliance": round(met_count / due_count, 4) if due_count else None,
            },
        }
    time_in_state = {name: totals[name] for name in ("detected", "acknowledged", "diagnosing", "mitigated")}
    trend = [
        {
            "week": bucket["week"],
            "incidents": bucket["incidents"],
            "mtta_mean": _mean(bucket["mtta"]),
            "mttr_mean": _mean(bucket["mttr"]),
        }
        for bucket in weekly.values()
    ]

    items = ActionItem.objects.all()
    if service is not None:
        items = items.filter(incident__services=service)
    item_counts = items.aggregate(
        open=Count("id", filter=Q(status=ActionItemStatus.OPEN)),
        overdue=Count("id", filter=Q(status=ActionItemStatus.OPEN, due_date__lt=now.date())),
        done=Count("id", filter=Q(status=ActionItemStatus.DONE)),
    )

    recurring_keys = list(
        incidents.exclude(dedup_key="")
        .values("integration__name", "dedup_key")
        .annotate(count=Count("id"), title=_Any("title"))
        .filter(count__gte=2)
        .order_by("-count", "dedup_key")[:10]
    )
    recurring_causes = list(
        Report.objects.filter(incident__in=incidents)
        .exclude(root_cause__in=["", "_to fill_"])
        .values("incident__services__slug", "root_cause")
        .annotate(count=Count("incident", distinct=True))
        .filter(count__gte=2)
        .order_by("-count")[:10]
    )

    total = sum(s["count"] for s in by_severity.values())
    due_total = sum(s["sla"]["due"] for s in by_severity.values())
    met_total = sum(s["sla"]["met"] for s in by_severity.values())
    return {
        "period": {"start": period.start, "end": period.end},
        "service": service.slug if service else None,
        "total": total,
        "sla_compliance": round(met_total / due_total, 4) if due_total else None,
        "by_severity": by_severity,
        "time_in_state": {name: _mean(pair) for name, pair in time_in_state.items()},
        "action_items": item_counts,
        "recurring": {
            "alert_keys": [
                {"integration": r["integration__name"], "key": r["dedup_key"], "count": r["count"], "title": r["title"]}
                for r in recurring_keys
            ],
            "root_causes": [
                {"service": r["incident__services__slug"], "root_cause": r["root_cause"][:300], "count": r["count"]}
                for r in recurring_causes
            ],
        },
        "weekly": trend,
    }


class _Any(Aggregate):
    """Any one value of the group (its maximum), to label a group of incidents."""

    function = "MAX"


def _mean(pair: list | None) -> float | None:
    """A mean from [sum, count], rounded; None when nothing was counted."""
    return _round(pair[0] / pair[1]) if pair and pair[1] else None
