"""Findings as the collectors shape them, for rule tests: each builder returns a FindingRef."""

from datetime import UTC, datetime, timedelta

from diagnostics.analysis import FindingRef

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def finding(check, status, summary="", subject="", *, run=1, at=None, **evidence) -> FindingRef:
    return FindingRef.of(
        {"check": check, "status": status, "summary": summary, "subject": subject, "evidence": evidence},
        run=run,
        collector=check.split(".")[0],
        target="task-service",
        at=at or T0,
    )


def saturation(percent, status, *, run=1, usable=17, at=None):
    in_use = round(percent * usable / 100)
    return finding(
        "postgres.connection_saturation", status, f"{in_use} of {usable} usable connections in use ({percent}%)",
        "appdb", run=run, at=at, observed=percent, threshold={"warn": 80, "crit": 90}, unit="%",
        range={"in_use": in_use, "usable": usable, "max_connections": usable + 3, "reserved": 3},
    )  # fmt: skip


def log_pattern(pattern, status="crit", subject="task-service-7d9f4c8b9-abcde/app", lines=12, *, sample="", run=1,
                **data):  # fmt: skip
    source = "task-service-7d9f4c8b9-abcde/app"
    return finding(
        f"kubernetes.logs.pattern.{pattern}", status, f"{pattern}: {lines} lines", subject, run=run,
        query=f"kubectl logs {source.split('/')[0]} -c app -n prod --tail=500", observed=lines, threshold=0,
        unit="lines", table={"columns": ["first seen", "last seen", "sample"], "rows": [[None, None, sample]]},
        **({"data": data} if data else {}),
    )  # fmt: skip


def error_groups(pod, message, *, count=5, run=1):
    return finding(
        "kubernetes.logs.error_groups", "warn", f"{count} error lines in 1 groups; most frequent ({count}×): {message}",
        f"{pod}/app", run=run, query=f"kubectl logs {pod} -c app -n prod --tail=500 --previous", observed=count,
        table={"columns": ["count", "message", "first seen", "last seen"], "rows": [[count, message, None, None]]},
    )  # fmt: skip


def error_rate(peak, status, *, started=None, run=1):
    return finding(
        "prometheus.error_rate", status, f"5xx ratio peaked at {peak:.1%}", 'service="task-service"', run=run,
        observed=peak, threshold=0.05, unit="ratio",
        range={"baseline": 0.001, "started": started.timestamp() if started else None},
    )  # fmt: skip


def latency(ratio, status, *, run=1):
    return finding(
        "prometheus.latency", status, f"P95 latency peaked at 2.1 s vs 180 ms before ({ratio:.1f}×)",
        'service="task-service"', run=run, observed=2.1, unit="seconds", range={"baseline": 0.18, "ratio": ratio},
    )  # fmt: skip


def pod(summary, observed, status="crit", subject="task-service-7d9f4c8b9-abcde", *, run=1, **data):
    return finding("kubernetes.pods", status, summary, subject, run=run, observed=observed,
                   **({"data": data} if data else {}))  # fmt: skip


def healthy(run=1):
    """What a healthy service's runs find: everything ok."""
    return [
        saturation(20.0, "ok", run=run),
        finding("postgres.long_running_queries", "ok", "0 queries running longer than 30 s", "appdb", run=run),
        finding("postgres.blocked_queries", "ok", "0 sessions waiting for a lock", "appdb", run=run),
        finding("postgres.slow_queries", "ok", "0 statements average ≥ 500 ms", "appdb", run=run),
        finding(
            "postgres.prisma_migrations", "ok", "0 failed or unfinished of 12 Prisma migrations", "appdb", run=run
        ),  # fmt: skip
        error_rate(0.002, "ok", run=run),
        latency(1.1, "ok", run=run),
        finding(
            "prometheus.memory_leak", "ok", "No steady growth: memory floor +0.1 MB/h", "pod-a", run=run, observed=0.1
        ),  # fmt: skip
        finding("prometheus.cpu_saturation", "ok", "CPU at 30% of the limit", "pod-a", run=run, observed=0.3),
        finding("kubernetes.pods", "ok", "All 3 pods running and ready (0 restarts)", "app=task-service", run=run),
        finding("kubernetes.events", "ok", "No warning events (4 normal)", "app=task-service", run=run),
        finding("kubernetes.logs.error_groups", "ok", "No error lines in 200 lines", "pod-a/app", run=run),
        finding(
            "kubernetes.endpoints",
            "ok",
            "Service task-service has 3 ready endpoints (0 not ready)",
            "task-service",
            run=run,
            observed=3,
        ),  # fmt: skip
        finding("kubernetes.hpa", "ok", "task-service: 3 replicas (min 2, max 10)", "task-service", run=run),
    ]


def since(minutes):
    return T0 + timedelta(minutes=minutes)
