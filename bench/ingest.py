"""Alert intake throughput over real HTTP: gunicorn + PostgreSQL (+ a Celery worker on Redis).

Measures, each repeated --repeats times (medians printed):
  (a) 1 alert per request, distinct keys: requests/s, each answered after its incident is committed;
  (b) 100 alerts per request: alerts/s, every alert stored as its own row;
  (c) the same payload repeated (dedup path): alerts/s;
  (d) new incidents/s end to end: large bodies answered 202, applied by a real worker, counted
      until every incident and its timeline entry are visible through the REST API;
and, in the same run, the baseline: the same alert rows written by plain psycopg executemany.

Usage: .venv/bin/python bench/ingest.py [--repeats 5] [--requests 600] [--seconds 8]
Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/test starts both). With
`wrk` installed (apt-get install wrk) it generates the load for (a) and (c), so that the client
does not take the CPU the server is measured on; otherwise Python threads do.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
DB = "orion_bench"
BROKER = "redis://127.0.0.1:6379/12"


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
    """Requests/s measured by wrk (a C load generator: the client takes little of the 2 cores)."""
    script = (
        WRK_SCRIPT.replace("__TEMPLATE__", template)
        .replace("__TOKEN__", token)
        .replace("__DISTINCT__", "true" if distinct else "false")
        .replace("__PREFIX__", prefix)
    )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"orion-wrk-{uuid.uuid4().hex[:8]}.lua"  # noqa: S108
    path.write_text(script)
    try:
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(path), url],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        path.unlink(missing_ok=True)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(out.split("Requests/sec:")[1].split()[0])


def run(cmd, env, **kwargs):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kwargs)


def reset_database():
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


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


def api_count(base: str, token: str, query: str) -> int:
    return requests.get(
        f"{base}/api/v1/incidents/{query}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement for (a) and (c)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk measurement")
    args = parser.parse_args()

    reset_database()
    var = Path(os.environ.get("TMPDIR", "/tmp")) / f"orion-bench-{uuid.uuid4().hex[:8]}"  # noqa: S108
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB}",
        "CELERY_BROKER_URL": BROKER,
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnop",
        "ORION_VAR_DIR": str(var),
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_MAX_SIZE": "4",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable
    run([python, "manage.py", "migrate", "--noinput", "-v0"], env)
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
    run([python, "manage.py", "shell", "-c", "from django.contrib.auth.models import User, Group; "
         "u = User.objects.create(username='bench'); u.groups.add(Group.objects.get(name='viewer'))"], env)  # fmt: skip
    am_token = run(
        [python, "manage.py", "create_integration", "bench-am", "--kind", "alertmanager"], env
    ).stdout.split()[-1]
    fp_token = run(
        [python, "manage.py", "create_integration", "bench-fp", "--kind", "alertmanager", "--grouping", "fingerprint"],
        env,
    ).stdout.split()[-1]
    api_token = run([python, "manage.py", "create_api_token", "bench", "--name", "bench"], env).stdout.split()[-1]

    port = 8790
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/v1/integrations/alertmanager/"
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "orion_ops.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "orion_ops", "worker", "-Q", "celery,diagnostics", "--concurrency", "2",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        results: dict[str, list[float]] = {k: [] for k in ("a", "b", "c", "d", "baseline")}
        starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        # Warm up the workers and their connection pools.
        timed(url, am_token, [body([alert(0, key=f"w{i}", starts=starts)], f"warm-{i}") for i in range(50)], 8)

        use_wrk = shutil.which("wrk") is not None
        for rep in range(args.repeats):
            # (a) one alert per request, every key new: each answer waits for its incident's commit.
            if use_wrk:
                template = body([alert(0, key="__KEY__", starts=starts)], "__KEY__").decode()
                results["a"].append(
                    wrk_rate(url, am_token, template, distinct=True, prefix=f"a{rep}", seconds=args.seconds,
                             connections=args.concurrency)
                )  # fmt: skip
            else:
                bodies = [
                    body([alert(0, key=f"a{rep}-{i}", starts=starts)], f"a{rep}-{i}") for i in range(args.requests)
                ]
                results["a"].append(len(bodies) / timed(url, am_token, bodies, args.concurrency))

            # (b) 100 alerts per request, new group each time.
            n_b = max(args.requests // 20, 10)
            bodies = [
                body([alert(j, key=f"b{rep}-{i}", starts=starts) for j in range(100)], f"b{rep}-{i}")
                for i in range(n_b)
            ]
            results["b"].append(n_b * 100 / timed(url, am_token, bodies, args.concurrency))

            # (c) the same payload again and again: dedup into the open incident.
            same = body([alert(0, key=f"c{rep}", starts=starts)], f"c{rep}")
            post_all(url, am_token, [same], 1)
            if use_wrk:
                results["c"].append(
                    wrk_rate(url, am_token, same.decode(), distinct=False, prefix="c", seconds=args.seconds,
                             connections=args.concurrency)
                )  # fmt: skip
            else:
                results["c"].append(args.requests / timed(url, am_token, [same] * args.requests, args.concurrency))

            # (d) end to end through the worker: 202 bodies of 200 alerts, one incident per alert.
            before = api_count(base, api_token, "?source=alertmanager&page_size=1")
            n_d = 5
            bodies = [
                body([alert(j, key=f"d{rep}-{i}", starts=starts) for j in range(200)], f"d{rep}-{i}")
                for i in range(n_d)
            ]
            expected = before + n_d * 200
            started = time.perf_counter()
            post_all(url, fp_token, bodies, n_d)
            while api_count(base, api_token, "?source=alertmanager&page_size=1") < expected:
                if time.perf_counter() - started > 300:
                    raise SystemExit("end-to-end measurement did not finish in 300 s")
                time.sleep(0.05)
            results["d"].append(n_d * 200 / (time.perf_counter() - started))

            results["baseline"].append(baseline_rows_per_second(n_b * 100))
    finally:
        web.terminate()
        worker.terminate()
        web.wait(timeout=30)
        worker.wait(timeout=30)

    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        f"alert intake benchmark: {args.repeats} runs, medians (gunicorn {args.workers} workers, PostgreSQL, Redis; "
        f"load from {'wrk' if use_wrk else 'Python threads'})",
        f"(a) 1 alert/request, new keys     {med['a']:9.0f} requests/s   (goal >= 500)",
        f"(b) 100 alerts/request            {med['b']:9.0f} alerts/s     "
        f"({med['b'] / med['baseline']:.1%} of baseline; goal >= 10%)",
        f"(c) same payload (dedup)          {med['c']:9.0f} alerts/s     (goal >= 1000)",
        f"(d) new incidents end to end      {med['d']:9.0f} incidents/s  (goal >= 200)",
        f"    baseline psycopg executemany  {med['baseline']:9.0f} rows/s",
        "runs: " + json.dumps({k: [round(x) for x in v] for k, v in results.items()}),
    ]
    print("\n".join(lines))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
