"""Insights for managers: MTTA, MTTR, SLA compliance, time in each state, recurring incidents, trends.

Everything is an SQL aggregate over the period (a fixed number of queries, however
many incidents there are). MTTA is detected → acknowledged, MTTR detected →
resolved; an incident whose deadline passed without an acknowledgement counts
as an SLA breach.

The period's rows are read once for every per-severity, per-week and time-in-state
figure: sums and counts per (week, severity), added up here. On PostgreSQL the same
statement collects each cell's MTTA and MTTR values and takes the medians with
percentile_cont, spans are summed as exact intervals (converted to seconds once per
cell) and weeks are binned with date_bin, whose groups the planner can count
(statistics made by migration 0012). On the embedded SQLite database the medians are
computed in Python over the period's rows. The recurring alert keys are a second scan.

On PostgreSQL, settled days (more than SETTLED_DAYS old, UTC) come from a daily rollup
kept stale-marked by triggers (migration 0013) and rolled up again when read; the same
statement adds the live rows of the rest of the period (see _rollup_refresh, _usable_days).
"""

import logging
import statistics
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import OperationalError, connection, transaction
from django.db.models import Aggregate, Count, DateField, F, FloatField, Func, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from incidents import scoping
from incidents.models import ActionItem, ActionItemStatus, Incident, Integration, Report, Service, Severity

SEVERITIES = list(Severity.values)
logger = logging.getLogger(__name__)


class _JuliandaySpan:
    """``end - start`` of two timestamps, in days on SQLite (``julianday(end) - julianday(start)``),
    put in each expression's own ``sqlite_template`` as ``%(span)s``."""

    arg_joiner = " - "
    sqlite_template = "%(span)s"

    def as_sqlite(self, compiler, connection, **extra):
        template = self.sqlite_template.replace("%(span)s", "(julianday(%(expressions)s))")
        return self.as_sql(compiler, connection, template=template, arg_joiner=") - julianday(")


class _Seconds(_JuliandaySpan, Func):
    """Seconds between two timestamps, per row (the values the medians are taken over)."""

    output_field = FloatField()
    sqlite_template = "(%(span)s * 86400.0)"

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)")


class _SpanTotal(_JuliandaySpan, Aggregate):
    """Seconds from start to end summed over the rows that have both (PostgreSQL sums the exact intervals)."""

    function = "SUM"
    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(function)s(%(expressions)s))"
    sqlite_template = "%(function)s(%(span)s * 86400.0)"


class _SpanCount(_JuliandaySpan, Aggregate):
    """How many rows have both the start and the end of a span."""

    function = "COUNT"
    output_field = IntegerField()
    template = "%(function)s(%(expressions)s)"
    sqlite_template = "%(function)s(%(span)s)"


class _Week(TruncWeek):
    """The Monday starting an incident's week. In UTC, PostgreSQL bins the timestamps with
    date_bin (integer arithmetic) rather than converting each one to a local time first."""

    def as_postgresql(self, compiler, connection, **extra):
        if self.get_tzname() != "UTC":
            return self.as_sql(compiler, connection, **extra)
        sql, params = compiler.compile(self.lhs)
        return f"date_bin('7 days', {sql}, TIMESTAMPTZ '2000-01-03 00:00:00+00')", params


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


def _float(value):
    return None if value is None else float(value)


def _round(value):
    return None if value is None else round(float(value), 1)


# Each span: (end, start); time in a state runs until the next state reached.
SPANS = {
    "mtta": (F("acknowledged_at"), F("detected_at")),
    "mttr": (F("resolved_at"), F("detected_at")),
    "detected": (Coalesce("acknowledged_at", "diagnosing_at", "mitigated_at", "resolved_at"), F("detected_at")),
    "acknowledged": (Coalesce("diagnosing_at", "mitigated_at", "resolved_at"), F("acknowledged_at")),
    "diagnosing": (Coalesce("mitigated_at", "resolved_at"), F("diagnosing_at")),
    "mitigated": (F("resolved_at"), F("mitigated_at")),
}


def _cell_sums() -> dict:
    """Per span, the seconds summed over the rows that have it and how many rows do."""
    sums = {}
    for name, (end, start) in SPANS.items():
        sums[f"{name}_sum"] = _SpanTotal(end, start)
        sums[f"{name}_n"] = _SpanCount(end, start)
    return sums


def _value_arrays() -> dict:
    """Each row's MTTA and MTTR in seconds, collected per group (PostgreSQL), for the medians."""
    return {
        "mtta_values": ArrayAgg(_Seconds("acknowledged_at", "detected_at"), filter=Q(acknowledged_at__isnull=False)),
        "mttr_values": ArrayAgg(_Seconds("resolved_at", "detected_at"), filter=Q(resolved_at__isnull=False)),
    }


def _cells(
    incidents: QuerySet[Incident], *, now: datetime, rolled: tuple[int, list[date]] = (0, [])
) -> tuple[list[dict], dict[str, dict[str, float | None]]]:
    """Sums and counts per (week, severity), and the MTTA and MTTR medians per severity.

    One statement on PostgreSQL, over the given incidents and the rolled-up days given as
    (service id or 0, days); on SQLite the medians take a second query.
    """
    cells = (
        incidents.annotate(week=_Week("detected_at"))
        .values("week", "severity")
        .annotate(
            count=Count("id"),
            resolved=Count("resolved_at"),
            sla_due=Count("id", filter=Q(acknowledged_at__isnull=False) | Q(ack_due_at__lte=now)),
            sla_met=Count("id", filter=Q(acknowledged_at__lte=F("ack_due_at"))),
            **_cell_sums(),
        )
        .order_by()
    )
    if connection.vendor != "postgresql":
        return list(cells.order_by("week", "severity")), _medians_in_python(incidents)

    names = list(cells.query.values_select) + list(cells.query.annotation_select)
    sql, params = cells.annotate(**_value_arrays()).query.sql_with_params()
    q = connection.ops.quote_name
    # A rolled-up day counts every incident as due: it is used only once all its
    # unacknowledged incidents' deadlines have passed (_usable_days).
    rolled_columns = {"week": ROLLED_WEEK, "count": "incidents", "sla_due": "incidents"}
    totals = {"week": "week", "severity": "severity"}
    statement = f"""
        WITH live AS ({sql}),
        rows AS (
            SELECT {", ".join(q(name) for name in names)}, mtta_values, mttr_values FROM live
            UNION ALL
            SELECT {", ".join(f"{rolled_columns.get(name, q(name))}" for name in names)}, mtta_values, mttr_values
            FROM {ROLLUP_CELLS} WHERE service_id = %s AND day = ANY(%s::date[])
        ),
        cells AS (
            SELECT {", ".join(totals.get(name, _total(name)) + " AS " + q(name) for name in names)}
            FROM rows GROUP BY week, severity
        ),
        medians AS MATERIALIZED (
            SELECT severities.severity,
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value)
                 FROM rows, unnest(rows.mtta_values) AS value WHERE rows.severity = severities.severity) AS mtta,
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value)
                 FROM rows, unnest(rows.mttr_values) AS value WHERE rows.severity = severities.severity) AS mttr
            FROM (SELECT DISTINCT severity FROM rows) AS severities
        )
        SELECT {", ".join(f"cells.{q(name)}" for name in names)}, medians.mtta, medians.mttr
        FROM cells JOIN medians USING (severity)
        ORDER BY cells.week, cells.severity
    """  # noqa: S608 (the ORM's SQL, whose values are parameters, and the annotations' names)
    rows, medians = [], {}
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, rolled[0], rolled[1]))
        for *values, mtta, mttr in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            for name in SPANS:
                row[f"{name}_sum"] = _float(row[f"{name}_sum"])
            rows.append(row)
            medians[row["severity"]] = {"mtta": _round(mtta), "mttr": _round(mttr)}
    return rows, medians


def _total(name: str) -> str:
    """A cell column added up over the live rows and the rolled-up days of its week."""
    if name.endswith("_sum"):
        return f"sum({name})::float8"
    return f"sum({name})::bigint"


def _medians_in_python(queryset: QuerySet[Incident]) -> dict[str, dict[str, float | None]]:
    """Median MTTA and MTTR per severity over the period's rows, for databases without percentile_cont."""
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


# The daily rollup (PostgreSQL, migration 0013): per UTC day, severity and service (0: all),
# the same sums, counts and MTTA/MTTR values as a live cell. Days younger than SETTLED_DAYS
# are always read live; triggers mark older days stale when their incidents change, and a
# stale or missing day is rolled up again the next time insights cover it.
ROLLUP_DAYS = "incidents_insight_day"
ROLLUP_CELLS = "incidents_insight_cell"
ROLLED_WEEK = "date_bin('7 days', day::timestamp AT TIME ZONE 'UTC', TIMESTAMPTZ '2000-01-03 00:00:00+00')"
SETTLED_DAYS = 3
# Days rolled up within one call at most (about 2 s over 3,000 incidents a day); the rest
# of a long period's missing days are read live this time and rolled up by later calls.
ROLL_UP_AT_MOST = 120
# Days rolled up per transaction: a writer to one of them waits at most for one batch.
ROLL_UP_BATCH = 31
LOCK_NOT_AVAILABLE = "55P03"


class _UtcDay(Func):
    """The UTC calendar day an incident was detected on."""

    output_field = DateField()
    template = "((%(expressions)s AT TIME ZONE 'UTC')::date)"


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _whole_days(period: Period, *, today: date) -> list[date]:
    """The settled UTC days lying wholly inside the period."""
    start = period.start.astimezone(UTC)
    first = start.date() if start == _utc_midnight(start.date()) else start.date() + timedelta(days=1)
    last = min(period.end.astimezone(UTC).date(), today - timedelta(days=SETTLED_DAYS))
    return [first + timedelta(days=n) for n in range((last - first).days)]


def _rollup_applies() -> bool:
    """The rollup holds every incident by UTC day: it serves PostgreSQL, UTC weeks, and
    people who see every incident (a team-scoped person's figures are read live)."""
    return (
        connection.vendor == "postgresql"
        and timezone.get_current_timezone_name() == "UTC"
        and scoping.current() is None
    )


def _settled_days(period: Period) -> list[date]:
    return _whole_days(period, today=timezone.now().astimezone(UTC).date())


def _rollup_refresh(period: Period) -> None:
    """Roll up again the period's settled days that are missing or stale (the latest
    ROLL_UP_AT_MOST of them), in short transactions of their own, committed before the
    figures are read unless the caller holds a transaction open."""
    days = _settled_days(period)
    if not days:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT wanted.day, known.stale FROM unnest(%s::date[]) AS wanted (day) LEFT JOIN {ROLLUP_DAYS} AS known USING (day) ORDER BY wanted.day",  # noqa: E501, S608 (a table name)
            [days],
        )
        states = cursor.fetchall()
    stale = [day for day, state in states if state is not False][-ROLL_UP_AT_MOST:]
    unknown = {day for day, state in states if state is None}
    for start in range(0, len(stale), ROLL_UP_BATCH):
        batch = stale[start : start + ROLL_UP_BATCH]
        _roll_up(batch, [day for day in batch if day in unknown])


def _usable_days(period: Period, *, now: datetime) -> list[date]:
    """The period's days whose rollup is fresh and holds their figures at ``now``: a day with
    an unacknowledged incident whose deadline is still ahead of ``now`` is read live."""
    days = _settled_days(period)
    if not days:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT day FROM {ROLLUP_DAYS} WHERE day = ANY(%s::date[]) AND NOT stale "  # noqa: S608 (a table name)
            "AND (unacked_due_last IS NULL OR unacked_due_last <= %s) ORDER BY day",
            [days, now],
        )
        return [day for (day,) in cursor.fetchall()]


def _roll_up(days: list[date], unknown: list[date]) -> None:
    """Roll the given days up again from their incidents (``unknown``: those without a row
    yet), in one transaction. A day a writer holds is skipped, left to the live read; the
    whole batch gives way (read live this time) rather than wait for a writer adding a
    day's row. Writers to these days wait for this transaction, not for the read after it."""
    with scoping.unscoped():
        rows = Incident.objects.filter(
            detected_at__gte=_utc_midnight(min(days)), detected_at__lt=_utc_midnight(max(days)) + timedelta(days=1)
        ).annotate(day=_UtcDay("detected_at"))
        figures = {
            "incidents": Count("id"),
            "resolved": Count("resolved_at"),
            "acked": Count("acknowledged_at"),
            "sla_met": Count("id", filter=Q(acknowledged_at__lte=F("ack_due_at"))),
            **_cell_sums(),
            **_value_arrays(),
        }
        every = rows.filter(day__in=days).values("day", "severity").annotate(service=Value(0), **figures).order_by()
        per_service = (
            rows.filter(day__in=days, services__isnull=False)
            .annotate(service=F("services"))
            .values("day", "severity", "service")
            .annotate(**figures)
            .order_by()
        )
        every_sql, every_params = every.query.sql_with_params()
        service_sql, service_params = per_service.query.sql_with_params()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
            cursor.execute(
                f"INSERT INTO {ROLLUP_DAYS} (day) SELECT unnest(%s::date[]) ORDER BY 1 ON CONFLICT DO NOTHING",  # noqa: S608
                [unknown],
            )
            cursor.execute(
                f"SELECT day FROM {ROLLUP_DAYS} WHERE day = ANY(%s::date[]) AND stale "  # noqa: S608 (a table name)
                "ORDER BY day FOR UPDATE SKIP LOCKED",
                [days],
            )
            held = [day for (day,) in cursor.fetchall()]
            if held:
                _cells_replace(cursor, held, figures, (every_sql, every_params), (service_sql, service_params))
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")  # for a caller's open transaction
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        logger.info("insights rollup: days %s to %s left to the live read (a writer holds them)", days[0], days[-1])


def _cells_replace(cursor, held: list[date], figures: dict, every: tuple, per_service: tuple) -> None:
    """Replace the held days' cells with the figures of their incidents (the two queries'
    SQL and parameters: every incident, and per service)."""
    q = connection.ops.quote_name
    selected = ", ".join(q(name) for name in ["day", "severity", "service", *figures])
    (every_sql, every_params), (service_sql, service_params) = every, per_service
    # The days are locked: a change to their incidents now waits for this transaction
    # (and marks them stale again), or has committed and is read below.
    cursor.execute(
        f"""
        WITH cleared AS (DELETE FROM {ROLLUP_CELLS} WHERE day = ANY(%s::date[])),
        computed AS (
            INSERT INTO {ROLLUP_CELLS} (day, severity, service_id, {", ".join(figures)})
            SELECT {selected} FROM ({every_sql}) AS every WHERE day = ANY(%s::date[])
            UNION ALL
            SELECT {selected} FROM ({service_sql}) AS per_service WHERE day = ANY(%s::date[])
        )
        UPDATE {ROLLUP_DAYS} AS rolled SET stale = false, computed_at = now(), unacked_due_last = (
            SELECT max(ack_due_at) FROM {q(Incident._meta.db_table)}
            WHERE acknowledged_at IS NULL AND detected_at >= rolled.day::timestamp AT TIME ZONE 'UTC'
              AND detected_at < (rolled.day + 1)::timestamp AT TIME ZONE 'UTC'
        )
        WHERE day = ANY(%s::date[])
        """,  # noqa: S608 (the ORM's SQL, whose values are parameters, and names from the code)
        [held, *every_params, held, *service_params, held, held],
    )


def _live_ranges(period: Period, rolled: list[date]) -> Q:
    """The parts of the period outside the rolled-up days, as detected_at ranges."""
    ranges, start = Q(), period.start
    for day in rolled:
        if _utc_midnight(day) > start:
            ranges |= Q(detected_at__gte=start, detected_at__lt=_utc_midnight(day))
        start = _utc_midnight(day) + timedelta(days=1)
    if period.end > start:
        ranges |= Q(detected_at__gte=start, detected_at__lt=period.end)
    return ranges or Q(detected_at__lt=period.start)


@contextmanager
def _consistent_read():
    """One transaction for the figures' statements. On PostgreSQL it reads one snapshot
    (REPEATABLE READ, when no outer transaction is open), so that the rollup's fresh days
    and the live rows agree; and it turns JIT off: PostgreSQL compiles a query with JIT once
    its estimated cost is high, as these aggregates' is over a long period, and the
    compilation takes longer (0.1 to over 1 s) than it saves."""
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET LOCAL jit = off")
        yield


def insights(*, period: Period, service: Service | None = None, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    incidents = incidents_in(period, service)
    if _rollup_applies():
        _rollup_refresh(period)
    with _consistent_read():
        rolled = _usable_days(period, now=now) if _rollup_applies() else []
        live = incidents.filter(_live_ranges(period, rolled)) if rolled else incidents
        cells, medians = _cells(live, now=now, rolled=(service.pk if service else 0, rolled))
        recurring_keys = _recurring_keys(incidents)
    rows: dict[str, dict] = {}
    weekly: dict[str, dict] = {}
    totals = {name: [0.0, 0] for name in SPANS}
    for cell in cells:
        row = rows.setdefault(cell["severity"], {"count": 0, "resolved": 0, "sla_due": 0, "sla_met": 0})
        for name in ("count", "resolved", "sla_due", "sla_met"):
            row[name] += cell[name]
        for name in ("mtta", "mttr"):
            pair = row.setdefault(name, [0.0, 0])
            pair[0] += cell[f"{name}_sum"] or 0.0
            pair[1] += cell[f"{name}_n"]
        for name in SPANS:
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
                {"integration": integration, "key": key, "count": count, "title": title}
                for integration, key, count, title in recurring_keys
            ],
            "root_causes": [
                {"service": r["incident__services__slug"], "root_cause": r["root_cause"][:300], "count": r["count"]}
                for r in recurring_causes
            ],
        },
        "weekly": trend,
    }


def _recurring_keys(incidents: QuerySet[Incident]) -> list[tuple[str | None, str, int, str]]:
    """The ten alert keys that opened the most incidents in the period (at least two each):
    (integration name, key, count, title)."""
    keyed = incidents.exclude(dedup_key="")
    if connection.vendor != "postgresql":
        return list(
            keyed.values_list("integration__name", "dedup_key")
            .annotate(count=Count("id"), title=_Any("title"))
            .filter(count__gte=2)
            .order_by("-count", "dedup_key")[:10]
        )
    # Counted by the integration's id (no join, no text to compare per row); the names and the
    # titles are looked up for the ten keys only, through the alert-key index.
    top, top_params = (
        keyed.values("integration", "dedup_key")
        .annotate(count=Count("id"))
        .filter(count__gte=2)
        .order_by("-count", "dedup_key")[:10]
        .query.sql_with_params()
    )
    labelled, labelled_params = keyed.values("integration", "dedup_key", "title").order_by().query.sql_with_params()
    statement = f"""
        SELECT (SELECT name FROM {connection.ops.quote_name(Integration._meta.db_table)}
                WHERE id = top.integration),
            top.dedup_key, top.count,
            (SELECT max(labelled.title) FROM ({labelled}) AS labelled
             WHERE labelled.dedup_key = top.dedup_key
               AND (labelled.integration = top.integration
                    OR labelled.integration IS NULL AND top.integration IS NULL))
        FROM ({top}) AS top
        ORDER BY top.count DESC, top.dedup_key
    """  # noqa: S608 (the ORM's SQL, whose values are parameters, and a table name from the model's metadata)
    with connection.cursor() as cursor:
        cursor.execute(statement, (*labelled_params, *top_params))
        return cursor.fetchall()


class _Any(Aggregate):
    """Any one value of the group (its maximum), to label a group of incidents."""

    function = "MAX"


def _mean(pair: list | None) -> float | None:
    """A mean from [sum, count], rounded; None when nothing was counted."""
    return _round(pair[0] / pair[1]) if pair and pair[1] else None
