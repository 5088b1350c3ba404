"""Worker memory: does a Celery worker's pool grow as it runs diagnostics, task after task?

Starts a real worker (prefork, --concurrency 2, the queues Orion Ops deploys: celery and diagnostics)
on a database of its own and a Redis database of its own, then runs two phases, each of --warm items
to warm up and then --tasks more, reading the resident memory (VmRSS) of each pool process and of
the main process every --sample items:
  baseline     heartbeat tasks (the beat task that writes one cache key): what a worker grows by
               doing almost nothing;
  diagnostics  PostgreSQL diagnostic runs against the benchmark's own database (14 checks each:
               connections, long, blocked and slow queries, missing indexes, bloat, migrations …), each
               attaching its findings to an incident's timeline and enqueuing the incident's
               likely-cause recompute, which the worker also runs (two tasks per run).
The warm-up is long (3,000 runs) because a pool process grows by about 2.3 MiB over its first
2,000–2,500 runs here (a ramp, then one step) and then stays flat (+0.14 MiB over 7,000 more).
Prints each phase's growth per pool process after the warm-up and in it, the whole series, and the
goal (issue 17: keep the growth at about 1 MiB; a leak shows as growth that keeps rising from
reading to reading).

Usage: .venv/bin/python bench/worker.py [--tasks 3000] [--warm 3000] [--sample 500]
       [--database orion_bench_worker] [--redis-db 14]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import PG, ROOT, database_fresh, django_start, orion_env, process_children, results_write

GOAL_GROWTH_MIB = 1.0  # per pool process over --tasks after the warm-up: issue 17 measured +1 MiB, to keep
DSN_ENV = "ORION_TARGET_BENCH_WORKER_DSN"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(master: int) -> dict[str, float]:
    """MiB: the main process and each pool process, by pid."""
    return {"main": rss_kib(master) / 1024, **{str(pid): rss_kib(pid) / 1024 for pid in process_children(master)}}


def queues_empty(client) -> bool:
    return all(client.llen(name) == 0 for name in ("celery", "diagnostics"))


def settle(app, client, seconds: float = 600.0) -> None:
    """Wait until both queues are empty and the worker has nothing running or reserved."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if queues_empty(client):
            inspect = app.control.inspect(timeout=1.0)
            busy = [t for tasks in (inspect.active() or {}).values() for t in tasks]
            busy += [t for tasks in (inspect.reserved() or {}).values() for t in tasks]
            if not busy:
                return
        time.sleep(0.2)
    raise SystemExit(f"the worker did not finish its tasks within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3000, help="diagnostic runs (and heartbeat tasks) measured")
    parser.add_argument("--warm", type=int, default=3000, help="runs (and tasks) before the first reading")
    parser.add_argument("--sample", type=int, default=500, help="read memory every this many tasks")
    parser.add_argument("--database", default="orion_bench_worker")
    parser.add_argument("--redis-db", type=int, default=14)
    args = parser.parse_args()

    database_fresh(args.database)
    extra = {DSN_ENV: f"{PG}/{args.database}", "DATABASE_POOL_MAX_SIZE": "4"}
    env = {**os.environ, **orion_env(args.database, redis_db=args.redis_db, redis_cache=True, **extra)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    django_start(args.database, redis_db=args.redis_db, redis_cache=True, **extra)

    import redis
    from django.db import transaction

    from diagnostics.models import DiagnosticRun, Target
    from diagnostics.services import runs_request
    from incidents.actors import Actor
    from incidents.models import Service
    from incidents.services import incident_create
    from orion_ops.celery import app

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    client.flushdb()
    database = Service.objects.create(slug="bench-db", name="Bench database")
    Target.objects.create(service=database, kind="postgres", name="bench-db", config={"dsn_env": DSN_ENV})
    actor = Actor.system()

    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "orion_ops", "worker", "-Q", "celery,diagnostics", "--concurrency", "2",
         "--pool", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env,
    )  # fmt: skip

    def heartbeats(count: int) -> None:
        for _ in range(count):
            app.send_task("incidents.tasks.beat_heartbeat", queue="celery")
        settle(app, client)

    def diagnostic_runs(count: int) -> None:
        done_before = DiagnosticRun.objects.filter(attached_at__isnull=False).count()
        for i in range(count):
            with transaction.atomic():
                incident = incident_create(title=f"Bench incident {i}", severity="P2", actor=actor)
                runs_request(incident_id=incident.pk, trigger="on_demand", service_ids=[database.pk])
        deadline = time.monotonic() + 3600
        while DiagnosticRun.objects.filter(attached_at__isnull=False).count() < done_before + count:
            if time.monotonic() > deadline:
                raise SystemExit("the diagnostic runs did not finish within an hour")
            time.sleep(0.5)
        settle(app, client)

    phases = {"baseline": heartbeats, "diagnostics": diagnostic_runs}
    figures: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + 60
        while len(process_children(worker.pid)) < 2:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not start its pool")
            time.sleep(0.2)
        app.control.ping(timeout=30)
        for name, run in phases.items():
            samples = [(0, memory(worker.pid))]
            started = time.perf_counter() if args.warm == 0 else None
            done, total = 0, args.warm + args.tasks
            while done < total:
                step = min(args.sample, (args.warm if done < args.warm else total) - done)
                run(step)
                done += step
                samples.append((done, memory(worker.pid)))
                if done == args.warm:
                    started = time.perf_counter()
                pool_now = ", ".join(f"{v:.1f}" for k, v in samples[-1][1].items() if k != "main")
                print(f"{name}: {done}/{total} (warm-up {args.warm}), pool MiB {pool_now}", flush=True)
            elapsed = time.perf_counter() - started
            start, warm, last = samples[0][1], dict(samples)[args.warm], samples[-1][1]
            pool = [k for k in start if k != "main"]
            replaced = any(sorted(k for k in m if k != "main") != pool for _, m in samples)
            figures[name] = {
                "seconds_after_warm_up": round(elapsed, 1),
                "pool_mib_at_start": [round(start[k], 1) for k in pool],
                "pool_mib_after_warm_up": [round(warm.get(k, 0.0), 1) for k in pool],
                "pool_mib_at_end": [round(last.get(k, 0.0), 1) for k in pool],
                "pool_growth_in_warm_up_mib": [round(warm.get(k, 0.0) - start[k], 2) for k in pool],
                "pool_growth_mib": [round(last.get(k, 0.0) - warm.get(k, 0.0), 2) for k in pool],
                "main_growth_mib": round(last["main"] - warm["main"], 2),
                "series_mib": [[n, round(statistics.mean(m.get(k, 0.0) for k in pool), 2)] for n, m in samples],
                "pool_processes_replaced": replaced,
            }
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()

    base, diag = figures["baseline"], figures["diagnostics"]
    worst = max(diag["pool_growth_mib"], default=0.0)
    lines = [
        f"worker memory: prefork, 2 pool processes; per phase {args.warm} to warm up, then {args.tasks} measured "
        f"(machine load average {os.getloadavg()[0]:.1f} at the end)",
        f"diagnostics  {args.tasks} runs ({2 * args.tasks} tasks) in {diag['seconds_after_warm_up']:.0f} s: pool "
        f"{diag['pool_mib_after_warm_up']} -> {diag['pool_mib_at_end']} MiB, growth {diag['pool_growth_mib']} MiB "
        f"(goal <= {GOAL_GROWTH_MIB:g} MiB per pool process); main {diag['main_growth_mib']:+.2f} MiB",
        f"             in the warm-up: {diag['pool_mib_at_start']} -> {diag['pool_mib_after_warm_up']} MiB",
        f"baseline     {args.tasks} heartbeat tasks in {base['seconds_after_warm_up']:.0f} s: pool "
        f"{base['pool_mib_after_warm_up']} -> {base['pool_mib_at_end']} MiB, growth {base['pool_growth_mib']} MiB; "
        f"main {base['main_growth_mib']:+.2f} MiB",
        f"diagnostics, mean pool MiB by runs done (warm-up included): {diag['series_mib']}",
    ]
    summary = {
        "benchmark": "worker",
        "tasks": args.tasks,
        "phases": figures,
        "goal_growth_mib": GOAL_GROWTH_MIB,
        "goals_met": {"growth": worst <= GOAL_GROWTH_MIB and not diag["pool_processes_replaced"]},
        "load_average": os.getloadavg()[0],
    }
    print("\n".join(lines))
    results_write("worker", summary, lines)


if __name__ == "__main__":
    main()
