"""Diagnostic runs on /metrics, counted in the database at scrape time (workers run them, the web is scraped).

Registered with ``incidents.metrics.register`` in ``DiagnosticsConfig.ready()``.
"""

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from diagnostics.models import ACTIVE_RUN_STATUSES, FINISHED_RUN_STATUSES, DiagnosticRun, TargetKind

# Seconds; collectors' default time limits are tens of seconds.
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class DiagnosticRunCollector:
    """Finished runs by collector and outcome, their durations, and the runs queued or running."""

    def collect(self):
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        buckets = {
            f"le_{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
            for i, bound in enumerate(DURATION_BUCKETS)
        }
        rows = (
            DiagnosticRun.objects.filter(status__in=FINISHED_RUN_STATUSES, finished_at__isnull=False)
            .annotate(duration=duration)
            .values("collector", "status")
            .annotate(
                n=Count("id"), timed=Count("id", filter=Q(started_at__isnull=False)), total=Sum("duration"), **buckets
            )
            .order_by()
        )
        runs = CounterMetricFamily(
            "orion_diagnostic_runs",
            "Finished diagnostic runs, by collector and outcome.",
            labels=["collector", "outcome"],
        )
        durations = HistogramMetricFamily(
            "orion_diagnostic_run_duration_seconds",
            "Time from a run's start to its end, by collector and outcome.",
            labels=["collector", "outcome"],
        )
        seen = set()
        for row in rows:
            labels = [row["collector"], row["status"]]
            seen.add(tuple(labels))
            runs.add_metric(labels, row["n"])
            cumulative = [(str(bound), row[f"le_{i}"]) for i, bound in enumerate(DURATION_BUCKETS)]
            cumulative.append(("+Inf", row["timed"]))
            total = row["total"].total_seconds() if row["total"] else 0.0
            durations.add_metric(labels, cumulative, total)
        # Every collector and outcome is present from the start, so rate() and alerts see a 0, not nothing.
        for kind in TargetKind.values:
            for status in FINISHED_RUN_STATUSES:
                if (kind, str(status)) not in seen:
                    runs.add_metric([kind, str(status)], 0)
        yield runs
        yield durations

        active = {
            (row["collector"], row["status"]): row["n"]
            for row in DiagnosticRun.objects.filter(status__in=ACTIVE_RUN_STATUSES)
            .values("collector", "status")
            .annotate(n=Count("id"))
            .order_by()
        }
        gauge = GaugeMetricFamily(
            "orion_diagnostic_runs_active",
            "Diagnostic runs queued or running, by collector.",
            labels=["collector", "status"],
        )
        for kind in TargetKind.values:
            for status in ACTIVE_RUN_STATUSES:
                gauge.add_metric([kind, str(status)], active.get((kind, status), 0))
        yield gauge
