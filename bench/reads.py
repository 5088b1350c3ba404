"""Reads at scale: the pages and API lists people open during an incident, over years of history.

Loads, with COPY (a progress bar on stderr), 200 services, --incidents incidents (default 100,000;
--open of them open, default 1,000) and --entries timeline entries (default 2,000,000; one incident
gets 500 of them), then measures in interleaved rounds, in process through Django's test client
(the full middleware stack, a signed-in viewer), p50 and p95 of:
  api_open_first     GET /api/v1/incidents/?open=true
  api_all_first      GET /api/v1/incidents/
  api_all_deep       GET /api/v1/incidents/?cursor=… (the page after row 90,000, or 90 % of
                     the incidents when --incidents is under 100,000)
  api_all_page_deep  GET /api/v1/incidents/?page=1800 (the same row by page number, kept for old clients)
  dashboard          GET /  (the open incidents, most urgent first), as the viewer
  dashboard_engineer GET /  as an engineer: every unacknowledged row has an Ack button
  incident_500       GET /incidents/<id>/ for the incident with 500 timeline entries
  insights_api       GET /api/v1/insights/
  insights_page      GET /insights/
against the baseline measured in the same rounds: GET /healthz, a bare JSON view through the same
stack. Each line also gives the SQL statements of one request and the response size.
Goals (issue 17): API first page p50 <= 3x bare + 5 ms with a constant statement count; dashboard
p95 < 100 ms and < 100 KB; insights < 300 ms.

Then, when `wrk` is installed (and not --no-wrk), the same requests over HTTP: gunicorn (2 workers)
on the same database, each URL asked by wrk over one connection for --wrk-seconds in each of
--wrk-rounds interleaved rounds, with the same signed-in sessions; medians of the rounds' p50 and p95,
and the same goals.

Usage: .venv/bin/python bench/reads.py [--rounds 20] [--database orion_bench_reads] [--reuse]
       [--no-wrk] [--wrk-rounds 5] [--wrk-seconds 2] [--port 18420]
"""

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time

import psycopg
from common import PG, ROOT, database_fresh, django_start, process_stop, results_write, server_wait, wrk_latency


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def copy_rows(cursor, sql: str, rows, total: int, label: str, chunk: int = 50_000) -> None:
    """COPY ``rows`` (tuples of text) in chunks, showing progress."""
    done = 0
    with cursor.copy(sql) as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(row) + "\n")
            done += 1
            if done % chunk == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
                progress(label, done, total)
        copy.write(buffer.getvalue())
    progress(label, done, total)


def load(conn, *, incidents: int, open_count: int, entries: int) -> int:
    """Fill the tables; returns the id of the incident with 500 timeline entries."""
    cur = conn.cursor()
    copy_rows(
        cur,
        "COPY incidents_service (slug, name, description, created_at, updated_at) FROM STDIN",
        ((f"service-{i}", f"Service {i}", "", "2026-01-01 00:00:00+00", "2026-01-01 00:00:00+00") for i in range(200)),
        200,
        "services",
    )
    service_ids = [r[0] for r in cur.execute("SELECT id FROM incidents_service ORDER BY id").fetchall()]
    severities = ("P0", "P1", "P2", "P3")
    open_statuses = ("detected", "acknowledged", "diagnosing", "mitigated")
    now = time.time()
    year = 365 * 86400

    def ts(seconds: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(seconds))

    def incident_rows():
        for i in range(incidents):
            detected = now - year * (i / incidents) - 60
            stamp = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(detected))
            due = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(detected + 900))
            is_open = i < open_count
            status = open_statuses[i % 4] if is_open else "resolved"
            acked = (
                "\\N" if status == "detected" else time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(detected + 120))
            )
            resolved = "\\N" if is_open else time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(detected + 3600))
            yield (
                f"HighErrorRate on service-{i % 200} ({i})", "", severities[i % 4], status,
                "" if is_open else "fixed", stamp, acked, resolved, due, "alertmanager", f"key-{i}", "1",
                "f", stamp, stamp,
            )  # fmt: skip

    copy_rows(
        cur,
        "COPY incidents_incident (title, description, severity, status, resolution, detected_at, acknowledged_at,"
        " resolved_at, ack_due_at, source, dedup_key, occurrences, unrouted, created_at, updated_at) FROM STDIN",
        incident_rows(),
        incidents,
        "incidents",
    )
    first_id, last_id = cur.execute("SELECT min(id), max(id) FROM incidents_incident").fetchone()
    copy_rows(
        cur,
        "COPY incidents_incident_services (incident_id, service_id) FROM STDIN",
        ((str(pk), str(service_ids[pk % 200])) for pk in range(first_id, last_id + 1)),
        incidents,
        "incident services",
    )
    busy = first_id  # the newest incident: it gets 500 entries
    rest = entries - 500

    def entry_rows():
        for n in range(500):
            yield (str(busy), "note", time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(now - 500 + n)),
                   "system", "", f"Step {n}: checked the pool, 48 of 50 connections in use", "{}")  # fmt: skip
        span = last_id - first_id + 1
        for n in range(rest):
            pk = first_id + n % span
            yield (str(pk), "note", time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(now - year * (n / rest))),
                   "system", "", "Diagnostic finished: 3 findings", "{}")  # fmt: skip

    copy_rows(
        cur,
        "COPY incidents_timelineentry (incident_id, kind, created_at, actor_kind, actor_name, text, data) FROM STDIN",
        entry_rows(),
        entries,
        "timeline entries",
    )
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    return busy


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def reads_goals(figures: dict) -> dict[str, bool]:
    list_goal = 3 * figures["bare"]["p50_ms"] + 5
    return {
        "api_open_first": figures["api_open_first"]["p50_ms"] <= list_goal,
        "api_all_first": figures["api_all_first"]["p50_ms"] <= list_goal,
        "api_all_deep": figures["api_all_deep"]["p50_ms"] <= list_goal,
        "dashboard_p95": max(figures[name]["p95_ms"] for name in ("dashboard", "dashboard_engineer")) < 100,
        "dashboard_size": max(figures[name]["bytes"] for name in ("dashboard", "dashboard_engineer")) < 100_000,
        "insights_api": figures["insights_api"]["p50_ms"] < 300,
    }


def goals_print(figures: dict, goals: dict[str, bool]) -> None:
    list_goal = 3 * figures["bare"]["p50_ms"] + 5
    print(f"goal: API first pages p50 <= 3 x bare + 5 ms = {list_goal:.1f} ms; dashboard p95 < 100 ms, < 100 KB; "
          "insights < 300 ms")  # fmt: skip
    print("met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in goals.items()))


def http_figures(args, urls: dict[str, str], sessions: dict[str, str]) -> dict[str, dict]:
    """The same URLs over HTTP, asked by wrk (see the module's docstring)."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{args.port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "orion_ops.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
         "--workers", "2", "--log-level", "warning", "--no-control-socket", "--graceful-timeout", "5"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    rounds: dict[str, list[tuple[float, float, int]]] = {name: [] for name in urls}
    names = list(urls)
    try:
        server_wait(base)
        for name, url in urls.items():  # warm every worker
            wrk_latency(base + url, seconds=1, headers={"Cookie": f"sessionid={sessions[name]}"})
        for rnd in range(args.wrk_rounds):
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                cookie = {"Cookie": f"sessionid={sessions[name]}"}
                rounds[name].append(wrk_latency(base + urls[name], seconds=args.wrk_seconds, headers=cookie))
            progress("rounds over HTTP", rnd + 1, args.wrk_rounds)
    finally:
        process_stop(web)
    return {
        name: {
            "p50_ms": round(statistics.median(r[0] for r in runs), 1),
            "p95_ms": round(statistics.median(r[1] for r in runs), 1),
            "requests": sum(r[2] for r in runs),
        }
        for name, runs in rounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=1_000)
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database", default="orion_bench_reads")
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run loaded")
    parser.add_argument("--no-wrk", action="store_true", help="skip the HTTP measurement even with wrk installed")
    parser.add_argument("--wrk-rounds", type=int, default=5)
    parser.add_argument("--wrk-seconds", type=int, default=2)
    parser.add_argument("--port", type=int, default=18420)
    args = parser.parse_args()
    if not args.reuse:
        database_fresh(args.database)
    django_start(args.database, ALLOWED_HOSTS="testserver,127.0.0.1,localhost")
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from incidents.api.pagination import cursor_encode
    from incidents.models import Incident

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # pages name their assets by manifest
    if not args.reuse or not Incident.objects.exists():
        started = time.perf_counter()
        with psycopg.connect(f"{PG}/{args.database}") as conn:
            busy = load(conn, incidents=args.incidents, open_count=args.open, entries=args.entries)
        print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    busy = Incident.objects.order_by("-detected_at", "-id").values_list("pk", flat=True).first()

    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    engineer, _ = User.objects.get_or_create(username="bench-engineer")
    engineer.groups.add(Group.objects.get(name="engineer"))
    engineer_client = Client()
    engineer_client.force_login(engineer)
    clients = {"dashboard_engineer": engineer_client}
    deep_row = min(90_000, Incident.objects.count() * 9 // 10)
    deep = Incident.objects.order_by("-detected_at", "-id").values("detected_at", "pk")[deep_row]
    urls = {
        "bare": "/healthz",
        "api_open_first": "/api/v1/incidents/?open=true",
        "api_all_first": "/api/v1/incidents/",
        "api_all_deep": "/api/v1/incidents/?cursor=" + cursor_encode(deep["detected_at"], deep["pk"]),
        "api_all_page_deep": f"/api/v1/incidents/?page={max(1, deep_row // 50)}",  # the same row by number
        "dashboard": "/",
        "dashboard_engineer": "/",
        "incident_500": f"/incidents/{busy}/",
        "insights_api": "/api/v1/insights/",
        "insights_page": "/insights/",
    }
    statements, sizes = {}, {}
    for name, url in urls.items():
        clients.get(name, client).get(url)  # warm: caches, and the insights' first roll-up of the period
        with CaptureQueriesContext(connection) as ctx:
            response = clients.get(name, client).get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
        statements[name], sizes[name] = len(ctx.captured_queries), len(response.content)
    timings: dict[str, list[float]] = {name: [] for name in urls}
    names = list(urls)
    for rnd in range(args.rounds):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            started = time.perf_counter()
            clients.get(name, client).get(urls[name])
            timings[name].append((time.perf_counter() - started) * 1000)
        progress("rounds", rnd + 1, args.rounds)

    figures = {
        name: {
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(pct(values, 0.95), 1),
            "statements": statements[name],
            "bytes": sizes[name],
        }
        for name, values in timings.items()
    }
    goals = reads_goals(figures)
    print(
        f"reads benchmark: {Incident.objects.count():,} incidents, {args.rounds} interleaved rounds, "
        f"machine load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'in process':20} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>5} {'bytes':>9}")
    for name, f in figures.items():
        print(f"{name:20} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['statements']:5} {f['bytes']:9,}")
    goals_print(figures, goals)
    summary = {"benchmark": "reads", "figures": figures, "goals_met": goals}
    if shutil.which("wrk") and not args.no_wrk:
        sessions = {name: clients.get(name, client).cookies["sessionid"].value for name in urls}
        http = http_figures(args, urls, sessions)
        for name, f in http.items():
            f.update(statements=statements[name], bytes=sizes[name])
        http_goals = reads_goals(http)
        print(f"over HTTP: gunicorn 2 workers, wrk over one connection, {args.wrk_rounds} interleaved rounds of "
              f"{args.wrk_seconds} s per URL, medians of the rounds; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{'over HTTP':20} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9}")
        for name, f in http.items():
            print(f"{name:20} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['requests']:9,}")
        goals_print(http, http_goals)
        summary.update(http=http, http_goals_met=http_goals)
    summary["load_average"] = os.getloadavg()[0]
    results_write("reads", summary)


if __name__ == "__main__":
    main()
