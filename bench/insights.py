"""Insights at scale: the /api/v1/insights/ figures over a million incidents on PostgreSQL.

Builds a database of N incidents (default 1,000,000) spread over a year with
generate_series, then times, --repeats times each (medians printed):
  - insights(): every figure of the insights page for a 90-day period (SQL aggregates over
    the daily rollup and the period's unsettled days), after a first call that rolls the
    period's days up (timed once);
  - the same for one service;
  - the same after one incident on each of 5 days of the period changed (those days are
    rolled up again within the call);
  - baseline: one plain sequential scan that counts and averages the same rows
    (the least any exact answer over them could cost);
  - a Python loop computing only MTTA per severity over the period's rows (what
    SQL aggregates avoid), on at most 200,000 rows;
then runs insights() once more and prints each SQL statement it sent with its time
(where the time goes).

Goal (issue 17): insights() over the period < 300 ms and <= 2x the one-scan baseline. Runs are
interleaved (each round times every variant), medians of --repeats rounds.

Usage: .venv/bin/python bench/insights.py [--incidents 1000000] [--repeats 5] [--database orion_bench_insights]
"""

import argparse
import os
import statistics
import time

from common import database_fresh, django_start, results_write

DB = "orion_bench_insights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", default=DB, help="dropped and created again; must start with orion_bench")
    args = parser.parse_args()
    database_fresh(args.database)
    django_start(args.database)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from incidents import insights
    from incidents.models import Service

    call_command("migrate", verbosity=0)
    services = [Service.objects.create(slug=f"service-{i}", name=f"Service {i}") for i in range(20)]
    started = time.perf_counter()
    with connection.cursor() as cur:
        # One row per incident: severity spread, ack after 1-60 min (some never), resolved after 10 min-6 h.
        cur.execute(
            """
            INSERT INTO incidents_incident
              (title, description, severity, status, resolution, detected_at, acknowledged_at, resolved_at,
               ack_due_at, source, dedup_key, occurrences, unrouted, created_at, updated_at)
            SELECT 'Incident ' || g, '', (ARRAY['P0','P1','P2','P3'])[1 + g %% 4],
                   CASE WHEN g %% 10 = 0 THEN 'detected' ELSE 'resolved' END,
                   CASE WHEN g %% 10 = 0 THEN '' ELSE 'fixed' END,
                   d, CASE WHEN g %% 7 = 0 THEN NULL ELSE d + (1 + g %% 60) * interval '1 minute' END,
                   CASE WHEN g %% 10 = 0 THEN NULL ELSE d + (10 + g %% 350) * interval '1 minute' END,
                   d + (ARRAY[5, 15, 60, 1440])[1 + g %% 4] * interval '1 minute',
                   'alertmanager', 'key-' || (g %% 5000), 1, false, d, d
            FROM (SELECT g, now() - (g %% 525600) * interval '1 minute' AS d
                  FROM generate_series(1, %s) AS g) AS rows
            """,
            [args.incidents],
        )
        cur.execute(
            """
            INSERT INTO incidents_incident_services (incident_id, service_id)
            SELECT i.id, s.ids[1 + i.id % 20] FROM incidents_incident i,
                   (SELECT array_agg(id ORDER BY id) AS ids FROM incidents_service) s
            """
        )
        cur.execute("ANALYZE")
    print(f"built {args.incidents:,} incidents in {time.perf_counter() - started:.0f} s", flush=True)

    period = insights.Period.last_days(90, now=timezone.now())

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def baseline():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT severity, count(*), avg(EXTRACT(EPOCH FROM (acknowledged_at - detected_at))) "
                "FROM incidents_incident WHERE detected_at >= %s AND detected_at < %s GROUP BY severity",
                [period.start, period.end],
            )
            cur.fetchall()

    def python_loop():
        totals: dict[str, list[float]] = {}
        with connection.cursor() as cur:
            cur.execute(
                "SELECT severity, detected_at, acknowledged_at FROM incidents_incident "
                "WHERE detected_at >= %s AND detected_at < %s LIMIT 200000",
                [period.start, period.end],
            )
            for severity, detected, acknowledged in cur.fetchall():
                if acknowledged:
                    totals.setdefault(severity, []).append((acknowledged - detected).total_seconds())
        return {k: statistics.mean(v) for k, v in totals.items()}

    def days_changed(n: int) -> None:
        """Acknowledge one more incident on each of n days of the period: they are rolled up again."""
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE incidents_incident SET acknowledged_at = detected_at + interval '90 seconds' WHERE id IN ("
                "  SELECT DISTINCT ON ((detected_at AT TIME ZONE 'UTC')::date) id FROM incidents_incident"
                "  WHERE acknowledged_at IS NULL AND detected_at >= %s AND detected_at < %s - interval '4 days'"
                "  ORDER BY (detected_at AT TIME ZONE 'UTC')::date, random() LIMIT %s)",
                [period.start, period.end, n],
            )

    first_call = timed(lambda: insights.insights(period=period))
    runs = {
        name: [] for name in ("insights", "insights_service", "insights_5_days_changed", "baseline", "python_loop_200k")
    }
    for _ in range(args.repeats):
        runs["insights"].append(timed(lambda: insights.insights(period=period)))
        days_changed(5)
        runs["insights_5_days_changed"].append(timed(lambda: insights.insights(period=period)))
        runs["insights_service"].append(timed(lambda: insights.insights(period=period, service=services[3])))
        runs["baseline"].append(timed(baseline))
        runs["python_loop_200k"].append(timed(python_loop))
    med = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    in_period = insights.incidents_in(period).count()
    with CaptureQueriesContext(connection) as statements:
        insights.insights(period=period)
    breakdown = [(float(q["time"]) * 1000, " ".join(q["sql"].split())[:90]) for q in statements.captured_queries]
    lines = [
        f"insights benchmark: {args.incidents:,} incidents ({in_period:,} in the 90-day period), "
        f"{args.repeats} runs, medians",
        f"insights(), all services        {med['insights']:8.0f} ms   "
        f"({med['insights'] / med['baseline']:.1f}× baseline)",
        f"insights(), one service         {med['insights_service']:8.0f} ms",
        f"insights(), 5 days changed      {med['insights_5_days_changed']:8.0f} ms   (those days rolled up again)",
        f"first call (rolls up 90 days)   {first_call * 1000:8.0f} ms   (once)",
        f"baseline: one aggregate scan    {med['baseline']:8.0f} ms",
        f"Python loop over 200k rows      {med['python_loop_200k']:8.0f} ms   (MTTA only)",
        f"goal: insights() < 300 ms and <= 2x the one-scan baseline; machine load average {os.getloadavg()[0]:.1f}",
        f"insights() statements, one more run ({len(breakdown)}):",
        *(f"  {ms:8.1f} ms  {sql}" for ms, sql in breakdown),
    ]
    print("\n".join(lines))
    ratio = med["insights"] / med["baseline"]
    summary = {
        "benchmark": "insights",
        "medians_ms": {k: round(v, 1) for k, v in med.items()},
        "first_call_ms": round(first_call * 1000, 1),
        "ratio_to_one_scan": round(ratio, 2),
        "statements_ms": [round(ms, 1) for ms, _ in breakdown],
        "goals_met": {"under_300_ms": med["insights"] < 300, "within_2x_one_scan": ratio <= 2.0},
        "load_average": os.getloadavg()[0],
    }
    results_write("insights", summary, lines)


if __name__ == "__main__":
    main()
