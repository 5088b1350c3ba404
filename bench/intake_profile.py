"""Where an alert delivery's time goes: Python per request, and the floor of its own SQL statements.

bench/ingest.py measures throughput over HTTP. This script splits the cost, in process and in
interleaved rounds (medians of --repeats), for a new alert key and for the same delivery again:
  cpu      CPU milliseconds per delivery through Django's full handler (middleware, view, ORM),
           against the bench/baseline_urls.py upsert view run the same way;
  floor    the intake's own SQL statements for one delivery (captured from a real one), replayed
           by plain psycopg in a transaction with fresh keys, against the one upsert statement:
           the rate a delivery could reach if Python cost nothing. Goal (a) of issue 17 asks the
           whole request for >= 0.5x the upsert view; this ratio bounds it from above.
Prints the new key's statements, then a final JSON line.

Usage: .venv/bin/python bench/intake_profile.py [--repeats 5] [--deliveries 300]
       [--database orion_bench_intake_profile]
"""

import argparse
import io
import json
import os
import statistics
import time
import uuid

import psycopg
from common import PG, database_fresh, django_start, results_write

DB = "orion_bench_intake_profile"
UPSERT = (
    "INSERT INTO bench_upsert (key, seen, body, last_seen_at) VALUES (%s, 1, %s, now()) "
    "ON CONFLICT (key) DO UPDATE SET seen = bench_upsert.seen + 1, last_seen_at = now()"
)


def alert_body(key: str, fingerprint: str) -> str:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "task-service", "severity": "critical"},
        "annotations": {"summary": "Error rate above 5%"},
        "startsAt": "2026-11-28T14:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }
    return json.dumps({"version": "4", "groupKey": key, "status": "firing", "receiver": "orion", "alerts": [alert]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--deliveries", type=int, default=300, help="per measurement and round")
    parser.add_argument("--database", default=DB, help="dropped and created again; must start with orion_bench")
    args = parser.parse_args()
    database_fresh(args.database)
    django_start(args.database, DJANGO_SETTINGS_MODULE="bench.baseline_settings", ALLOWED_HOSTS="testserver")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bench_upsert (key text PRIMARY KEY, seen int, body jsonb, last_seen_at timestamptz)")
    out = io.StringIO()
    call_command("create_integration", "bench-am", "--kind", "alertmanager", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    client = Client()

    def post(path: str, body: str) -> None:
        answer = client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.content[:300]!r}")

    intake = "/api/v1/integrations/alertmanager/"
    for i in range(20):  # warm: the integration cached, the targets known, the code paths loaded
        post(intake, alert_body(f"warm-{i}", f"warm-{i}"))

    # The statements of one new key and of the same delivery again, as the server ran them.
    key, fingerprint = f"floor-{uuid.uuid4().hex[:8]}", "fp-floor"

    def captured(body: str) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            post(intake, body)
        return [q["sql"] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]

    new_sql = captured(alert_body(key, fingerprint))
    same_sql = captured(alert_body(key, fingerprint))
    connection.close()

    def cpu_ms(path: str, bodies) -> float:
        started = time.process_time()
        for body in bodies:
            post(path, body)
        return (time.process_time() - started) / args.deliveries * 1000

    replay = psycopg.connect(f"{PG}/{args.database}", autocommit=True)

    def replayed(statements: list[str], tag: str) -> float:
        started = time.perf_counter()
        for i in range(args.deliveries):
            with replay.transaction():
                for sql in statements:
                    fresh = sql.replace(key, f"{key}-{tag}-{i}").replace(
                        f"'{fingerprint}'", f"'{fingerprint}-{tag}-{i}'"
                    )
                    replay.execute(fresh.replace("%", "%%"))
        return args.deliveries / (time.perf_counter() - started)

    def upserts(tag: str, distinct: bool) -> float:
        body = alert_body("upsert", "upsert")
        started = time.perf_counter()
        for i in range(args.deliveries):
            with replay.transaction():
                replay.execute(UPSERT, [f"{tag}-{i}" if distinct else "same", body])
        return args.deliveries / (time.perf_counter() - started)

    runs: dict[str, list[float]] = {
        name: []
        for name in (
            "cpu_new",
            "cpu_same",
            "cpu_upsert",
            "floor_new",
            "floor_same",
            "floor_upsert_new",
            "floor_upsert_same",
        )
    }
    same_body = alert_body(key, fingerprint)
    for r in range(args.repeats):
        tag = f"r{r}"
        runs["cpu_new"].append(
            cpu_ms(intake, (alert_body(f"cpu-{tag}-{i}", f"cpu-{i}") for i in range(args.deliveries)))
        )
        runs["cpu_same"].append(cpu_ms(intake, (same_body for _ in range(args.deliveries))))
        runs["cpu_upsert"].append(
            cpu_ms("/bench/upsert/", (alert_body(f"up-{tag}-{i}", "x") for i in range(args.deliveries)))
        )
        runs["floor_new"].append(replayed(new_sql, tag))
        runs["floor_upsert_new"].append(upserts(tag, True))
        runs["floor_same"].append(replayed(same_sql, "same"))
        runs["floor_upsert_same"].append(upserts(tag, False))
        print(f"round {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in runs.items()), flush=True)

    med = {k: statistics.median(v) for k, v in runs.items()}
    load = os.getloadavg()[0]
    lines = [
        f"intake profile: {args.repeats} interleaved rounds of {args.deliveries} deliveries, medians "
        f"(machine load average {load:.1f})",
        f"CPU per delivery, Django in process: new key {med['cpu_new']:.2f} ms, same delivery "
        f"{med['cpu_same']:.2f} ms; upsert view {med['cpu_upsert']:.2f} ms",
        f"statements per delivery: new key {len(new_sql)}, same delivery {len(same_sql)}; upsert view 1",
        f"floor, the statements replayed by psycopg: new key {med['floor_new']:.0f}/s = "
        f"{med['floor_new'] / med['floor_upsert_new']:.2f}x the upsert statement ({med['floor_upsert_new']:.0f}/s); "
        f"same delivery {med['floor_same']:.0f}/s = {med['floor_same'] / med['floor_upsert_same']:.2f}x "
        f"({med['floor_upsert_same']:.0f}/s)",
        "the new key's statements:",
        *(f"  {sql[:110]}" for sql in new_sql),
    ]
    print("\n".join(lines))
    result = {
        "benchmark": "intake_profile",
        "medians": {k: round(v, 3) for k, v in med.items()},
        "statements": {"new": len(new_sql), "same": len(same_sql)},
        "floor_ratio_new": round(med["floor_new"] / med["floor_upsert_new"], 3),
        "floor_ratio_same": round(med["floor_same"] / med["floor_upsert_same"], 3),
        "cpu_ratio_new": round(med["cpu_upsert"] / med["cpu_new"], 3),
        "cpu_ratio_same": round(med["cpu_upsert"] / med["cpu_same"], 3),
        "load_average": load,
    }
    results_write("intake_profile", result)
    replay.close()


if __name__ == "__main__":
    main()
