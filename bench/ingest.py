"""Alert intake throughput over real HTTP: gunicorn + PostgreSQL (+ a Celery worker on Redis).

Measures, each repeated --repeats times in interleaved rounds (medians printed):
  (a) 1 alert per request, distinct keys: requests/s, each answered after its incident is committed;
  (b) 100 alerts per request: alerts/s, every alert stored as its own row;
  (c) the same payload repeated (dedup path): alerts/s;
  (d) new incidents/s end to end: large bodies answered 202, applied by a real worker, counted
      until every incident is in the database;
and, in the same rounds and served by the same gunicorn (bench/baseline_urls.py), the baselines:
  bare    a view that parses the JSON body and answers (no database);
  upsert  a view that parses it and does one plain INSERT … ON CONFLICT DO UPDATE in a transaction,
          with new keys (against (a)) and with one key (against (c));
  rows    the (b) alert rows written by plain psycopg executemany.
Goals (issue 17): (a) >= 0.5x upsert-new, (c) >= 1.0x upsert-same.

Usage: .venv/bin/python bench/ingest.py [--repeats 5] [--requests 600] [--database orion_bench_ingest]
       [--redis-db 15] [--port 18400]
Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/test starts both). Only the
given Redis database is flushed. With `wrk` installed (apt-get install wrk) it generates the load
for (a) and (c), so that the client does not take the CPU the server is measured on; otherwise
Python threads do (and take some of it: compare ratios, not absolute figures).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import requests
from common import PG, ROOT, database_fresh, orion_env, process_stop, results_write, server_wait, wrk_run

DB = "orion_bench_ingest"


def alert(i: int, *, key: str, starts: str) -> dict:
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "service": "task-service",
            "severity": "critical",
            "pod": f"task-service-{key}-{i}",
            "namespace": "orion-prod",
        },
        "annotations": {"summary": "Error rate above 5% for 5 minutes", "description": "5xx ratio 8.1%"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
        "fingerprint": f"{key}-{i}",
    }


def body(alerts: list[dict], group_key: str) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "orion-ops",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate"},
            "commonAnnotations": {"summary": "Error rate above 5% for 5 minutes"},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


WRK_SCRIPT = """
local counter = 0
local threads = 0
local template = [==[__TEMPLATE__]==]
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer __TOKEN__"
wrk.headers["Content-Type"] = "application/json"
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function request()
  counter = counter + 1
  local body = template
  if __DISTINCT__ then
    body = string.gsub(template, "__KEY__", string.format("__PREFIX__-%d-%d", id, counter))
  end
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk_rate(url: str, token: str, template: str, *, distinct: bool, prefix: str, seconds: int, connections: int):
    """Requests/s measured by wrk."""
    script = (
        WRK_SCRIPT.replace("__TEMPLATE__", template)
        .replace("__TOKEN__", token)
        .replace("__DISTINCT__", "true" if distinct else "false")
        .replace("__PREFIX__", prefix)
    )
    out = wrk_run(script, url, "-t", "2", "-c", str(connections), "-d", f"{seconds}s")
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(out.split("Requests/sec:")[1].split()[0])


def run(cmd, env, **kwargs):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kwargs)


def post_all(url: str, token: str, bodies: list[bytes], concurrency: int) -> list[int]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(data):
        return requests.post(url, data=data, headers=headers, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(send, bodies))


def timed(url, token, bodies, concurrency) -> float:
    started = time.perf_counter()
    codes = post_all(url, token, bodies, concurrency)
    elapsed = time.perf_counter() - started
    bad = [c for c in codes if c not in (200, 202)]
    if bad:
        raise SystemExit(f"unexpected answers: {sorted(set(bad))}")
    return elapsed


def baseline_rows_per_second(rows: int) -> float:
    """The same alert rows, written by plain psycopg executemany in one transaction."""
    now = datetime.now(UTC)
    data = [
        (
            f"baseline-{i}",
            now,
            "firing",
            json.dumps(alert(i, key="b", starts=now.isoformat())["labels"]),
            json.dumps({"summary": "Error rate above 5% for 5 minutes"}),
            "http://prometheus:9090/graph?g0.expr=rate",
            now,
            now,
        )
        for i in range(rows)
    ]
    with psycopg.connect(f"{PG}/{DB}") as conn:
        conn.execute(
            "CREATE TEMP TABLE baseline_alert (LIKE incidents_incidentalert INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO baseline_alert (fingerprint, starts_at, status, labels, annotations, generator_url,"
                " first_seen_at, last_seen_at, incident_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0)",
                data,
            )
        conn.commit()
        return rows / (time.perf_counter() - started)


def incident_count() -> int:
    with psycopg.connect(f"{PG}/{DB}") as conn:
        return conn.execute("SELECT count(*) FROM incidents_incident WHERE source = 'alertmanager'").fetchone()[0]


def rate(url: str, token: str, bodies: list[bytes], concurrency: int) -> float:
    return len(bodies) / timed(url, token, bodies, concurrency)


def main() -> None:
    global DB
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement for (a), (c), baselines")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk measurement")
    parser.add_argument("--database", default=DB, help="dropped and created again; must start with orion_bench")
    parser.add_argument("--redis-db", type=int, default=15, help="Redis database for the broker (flushed)")
    parser.add_argument("--port", type=int, default=18400)
    parser.add_argument("--skip-end-to-end", action="store_true", help="leave out (d) and its Celery worker")
    args = parser.parse_args()
    DB = args.database

    database_fresh(DB)
    env = {
        **os.environ,
        **orion_env(
            DB,
            redis_db=args.redis_db,
            redis_cache=True,
            DATABASE_POOL_MAX_SIZE="4",
            DJANGO_SETTINGS_MODULE="bench.baseline_settings",
        ),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable
    run([python, "manage.py", "migrate", "--noinput", "-v0"], env)
    with psycopg.connect(f"{PG}/{DB}", autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_upsert (key text PRIMARY KEY, seen integer NOT NULL, body jsonb NOT NULL,"
            " last_seen_at timestamptz NOT NULL)"
        )
    run(
        [
            python,
            "manage.py",
            "shell",
            "-c",
            "from incidents.models import Service; Service.objects.create(slug='task-service', name='Task')",
        ],
        env,
    )
    am_token = run(
        [python, "manage.py", "create_integration", "bench-am", "--kind", "alertmanager"], env
    ).stdout.split()[-1]
    fp_token = run(
        [python, "manage.py", "create_integration", "bench-fp", "--kind", "alertmanager", "--grouping", "fingerprint"],
        env,
    ).stdout.split()[-1]

    port = args.port
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/v1/integrations/alertmanager/"
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "orion_ops.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--log-level", "warning", "--no-control-socket", "--graceful-timeout", "5"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = None
    if not args.skip_end_to_end:
        worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "orion_ops", "worker", "-Q", "celery,diagnostics", "--concurrency", "2",
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env,
        )  # fmt: skip
    names = ("a", "c", "bare", "upsert_new", "upsert_same", "b", "rows", "d")
    results: dict[str, list[float]] = {k: [] for k in names}
    use_wrk = shutil.which("wrk") is not None
    try:
        server_wait(base)
        starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        # Warm up the workers, their connection pools and the baseline views.
        timed(url, am_token, [body([alert(0, key=f"w{i}", starts=starts)], f"warm-{i}") for i in range(50)], 8)
        timed(f"{base}/bench/upsert/", "", [body([], f"warm-{i}") for i in range(50)], 8)

        def measure_a(rep):
            if use_wrk:
                template = body([alert(0, key="__KEY__", starts=starts)], "__KEY__").decode()
                return wrk_rate(url, am_token, template, distinct=True, prefix=f"a{rep}", seconds=args.seconds,
                                connections=args.concurrency)  # fmt: skip
            bodies = [body([alert(0, key=f"a{rep}-{i}", starts=starts)], f"a{rep}-{i}") for i in range(args.requests)]
            return rate(url, am_token, bodies, args.concurrency)

        def measure_c(rep):
            same = body([alert(0, key=f"c{rep}", starts=starts)], f"c{rep}")
            post_all(url, am_token, [same], 1)
            if use_wrk:
                return wrk_rate(url, am_token, same.decode(), distinct=False, prefix="c", seconds=args.seconds,
                                connections=args.concurrency)  # fmt: skip
            return rate(url, am_token, [same] * args.requests, args.concurrency)

        def measure_bare(rep):
            bodies = [body([alert(0, key=f"x{rep}-{i}", starts=starts)], f"x{rep}-{i}") for i in range(args.requests)]
            return rate(f"{base}/bench/bare/", "", bodies, args.concurrency)

        def measure_upsert_new(rep):
            bodies = [body([alert(0, key=f"u{rep}-{i}", starts=starts)], f"u{rep}-{i}") for i in range(args.requests)]
            return rate(f"{base}/bench/upsert/", "", bodies, args.concurrency)

        def measure_upsert_same(rep):
            same = body([alert(0, key=f"s{rep}", starts=starts)], f"s{rep}")
            return rate(f"{base}/bench/upsert/", "", [same] * args.requests, args.concurrency)

        n_b = max(args.requests // 20, 10)

        def measure_b(rep):
            bodies = [
                body([alert(j, key=f"b{rep}-{i}", starts=starts) for j in range(100)], f"b{rep}-{i}")
                for i in range(n_b)
            ]
            return n_b * 100 / timed(url, am_token, bodies, args.concurrency)

        def measure_rows(rep):
            return baseline_rows_per_second(n_b * 100)

        def measure_d(rep):
            before, n_d = incident_count(), 5
            bodies = [
                body([alert(j, key=f"d{rep}-{i}", starts=starts) for j in range(200)], f"d{rep}-{i}")
                for i in range(n_d)
            ]
            started = time.perf_counter()
            post_all(url, fp_token, bodies, n_d)
            while incident_count() < before + n_d * 200:
                if time.perf_counter() - started > 300:
                    raise SystemExit("end-to-end measurement did not finish in 300 s")
                time.sleep(0.05)
            return n_d * 200 / (time.perf_counter() - started)

        steps = {
            "a": measure_a,
            "upsert_new": measure_upsert_new,
            "c": measure_c,
            "upsert_same": measure_upsert_same,
            "bare": measure_bare,
            "b": measure_b,
            "rows": measure_rows,
            "d": measure_d,
        }
        if args.skip_end_to_end:
            steps.pop("d")
        order = list(steps)
        for rep in range(args.repeats):
            # Interleaved: each round measures everything, starting one step further along.
            for name in order[rep % len(order) :] + order[: rep % len(order)]:
                results[name].append(steps[name](rep))
            print(f"round {rep + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items() if v),
                  flush=True)  # fmt: skip
    finally:
        process_stop(web)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)

    med = {k: statistics.median(v) for k, v in results.items() if v}
    ratio_new = med["a"] / med["upsert_new"]
    ratio_same = med["c"] / med["upsert_same"]
    lines = [
        f"alert intake benchmark: {args.repeats} interleaved rounds, medians (gunicorn {args.workers} workers, "
        f"PostgreSQL, Redis db {args.redis_db}; load from {'wrk' if use_wrk else 'Python threads'}; "
        f"machine load average {os.getloadavg()[0]:.1f} at the end)",
        f"(a) 1 alert/request, new keys     {med['a']:9.0f} requests/s   "
        f"{ratio_new:.2f}x upsert-new, {med['a'] / med['bare']:.3f}x bare   (goal >= 0.5x upsert-new)",
        f"(c) same payload (dedup)          {med['c']:9.0f} alerts/s     "
        f"{ratio_same:.2f}x upsert-same   (goal >= 1.0x upsert-same)",
        f"(b) 100 alerts/request            {med['b']:9.0f} alerts/s     "
        f"({med['b'] / med['rows']:.1%} of psycopg executemany; goal >= 10%)",
    ]
    if "d" in med:
        lines.append(f"(d) new incidents end to end      {med['d']:9.0f} incidents/s  (goal >= 200)")
    lines += [
        f"    baseline bare JSON view       {med['bare']:9.0f} requests/s",
        f"    baseline upsert, new keys     {med['upsert_new']:9.0f} requests/s",
        f"    baseline upsert, same key     {med['upsert_same']:9.0f} requests/s",
        f"    baseline psycopg executemany  {med['rows']:9.0f} rows/s",
        "runs: " + json.dumps({k: [round(x) for x in v] for k, v in results.items() if v}),
    ]
    summary = {
        "benchmark": "ingest",
        "medians": {k: round(v, 1) for k, v in med.items()},
        "ratio_new_vs_upsert": round(ratio_new, 3),
        "ratio_dedup_vs_upsert": round(ratio_same, 3),
        "ratio_new_vs_bare": round(med["a"] / med["bare"], 4),
        "goals_met": {"new": ratio_new >= 0.5, "dedup": ratio_same >= 1.0},
        "load_average": os.getloadavg()[0],
    }
    print("\n".join(lines))
    results_write("ingest", summary, lines)


if __name__ == "__main__":
    main()
