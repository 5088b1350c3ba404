"""Live updates: how soon an alert shows on an open dashboard, and what idle dashboards cost the server.

Serves the app with gunicorn (the same configuration as bench/ingest.py), signs a viewer in, and
follows the dashboard's own live mechanism as static/js/dashboard.js does: every second it asks
/dashboard/stamp/?t=<the page's token>; when the stamp moves it asks /dashboard/changes/?since=…
and looks for the new incident's row. Measures:
  latency   --alerts alerts (default 20) POSTed to the Alertmanager webhook at random moments:
            the time from sending the POST to the row arriving (median and p95);
  idle cost --dashboards idle dashboards (default 100), each checking the stamp every second (and
            the changes endpoint every 20 s, the poller's back-off ceiling) for --seconds seconds:
            CPU seconds used by the gunicorn processes per wall second (% of one core), and the
            same for the server doing nothing (the baseline, measured just before).
Goals (issue 17): latency p95 < 2 s; 100 idle dashboards < 10 % of a core.

Usage: .venv/bin/python bench/live.py [--alerts 20] [--dashboards 100] [--seconds 30]
       [--database orion_bench_live] [--redis-db 15] [--port 18410]
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
from common import ROOT, database_fresh, orion_env, process_stop, results_write, server_wait

PASSWORD = "bench-only-password-0123"  # noqa: S105


def process_cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, IndexError):
            continue
    return total / ticks


def gunicorn_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def alert_body(key: str) -> dict:
    return {
        "version": "4",
        "groupKey": key,
        "status": "firing",
        "receiver": "orion-ops",
        "externalURL": "http://alertmanager:9093",
        "commonAnnotations": {"summary": "Error rate above 5%"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "task-service", "severity": "critical"},
                "annotations": {},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": key,
            }
        ],
    }


class Dashboard:
    """One open dashboard, doing what dashboard.js does."""

    def __init__(self, base: str, session: requests.Session):
        self.base = base
        self.session = session
        page = session.get(f"{base}/", timeout=30).text
        self.stamp_url = base + re.search(r'data-stamp-url="([^"]+)"', page)[1].replace("&amp;", "&")
        self.cursor = re.search(r'data-cursor="(\d+)"', page)[1]
        self.stamp = None

    def check(self) -> str:
        """One stamp check; the changed rows' HTML when the stamp moved, else ""."""
        changed = self.session.get(self.stamp_url, timeout=30).json()["changed"]
        moved = self.stamp is not None and changed != self.stamp
        self.stamp = changed
        return self.changes() if moved else ""

    def changes(self) -> str:
        data = self.session.get(f"{self.base}/dashboard/changes/", params={"since": self.cursor}, timeout=30).json()
        self.cursor = str(data["cursor"])
        return data.get("rows_html", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--dashboards", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database", default="orion_bench_live")
    parser.add_argument("--redis-db", type=int, default=15)
    parser.add_argument("--port", type=int, default=18410)
    args = parser.parse_args()
    database_fresh(args.database)
    env = {
        **os.environ,
        **orion_env(args.database, redis_db=args.redis_db, redis_cache=True, DATABASE_POOL_MAX_SIZE="4"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable

    def manage(*argv):
        return subprocess.run([python, "manage.py", *argv], cwd=ROOT, env=env, check=True, capture_output=True,
                              text=True).stdout  # fmt: skip

    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")  # pages name their assets by manifest
    manage("shell", "-c", "from django.contrib.auth.models import User, Group; from incidents.models import Service; "
           "Service.objects.create(slug='task-service', name='Task'); "
           f"u = User.objects.create_user('bench-viewer', password='{PASSWORD}'); "
           "u.groups.add(Group.objects.get(name='viewer'))")  # fmt: skip
    token = manage("create_integration", "bench-live", "--kind", "alertmanager").split()[-1]
    base = f"http://127.0.0.1:{args.port}"
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "orion_ops.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
         "--workers", str(args.workers), "--threads", str(args.threads), "--log-level", "warning",
         "--no-control-socket", "--graceful-timeout", "5"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        server_wait(base)

        def signed_in() -> requests.Session:
            session = requests.Session()
            page = session.get(f"{base}/accounts/login/", timeout=30).text
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
            form = {"username": "bench-viewer", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
            session.post(
                f"{base}/accounts/login/", data=form, timeout=30, headers={"Referer": f"{base}/accounts/login/"}
            )
            return session

        # Latency: one dashboard checking every second; alerts sent at random moments of that second.
        watcher = Dashboard(base, signed_in())
        watcher.check()
        latencies = []
        for n in range(args.alerts):
            time.sleep(random.uniform(0.5, 1.5))  # noqa: S311
            key = f"live-{uuid.uuid4().hex[:10]}"
            sent = time.perf_counter()
            answer = requests.post(f"{base}/api/v1/integrations/alertmanager/", json=alert_body(key), timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            incident = answer.json()["outcomes"][0]["incident"]
            next_check = sent + random.uniform(0, 1)  # noqa: S311  (where in its second the page happens to be)
            while True:
                time.sleep(max(0.0, next_check - time.perf_counter()))
                if f'id="incident-{incident}"' in watcher.check():
                    break
                next_check += 1.0
                if time.perf_counter() - sent > 30:
                    raise SystemExit(f"alert {n} did not show within 30 s")
            latencies.append(time.perf_counter() - sent)

        # Idle cost: the server alone, then with N idle dashboards.
        pids = gunicorn_pids(web.pid)
        before = process_cpu_seconds(pids)
        time.sleep(args.seconds / 3)
        idle_baseline = (process_cpu_seconds(pids) - before) / (args.seconds / 3)

        dashboards = [Dashboard(base, signed_in()) for _ in range(args.dashboards)]
        stop = threading.Event()
        checks = [0]

        def run(dashboard: Dashboard, offset: float):
            time.sleep(offset)
            last_poll = time.monotonic()
            while not stop.is_set():
                dashboard.check()
                checks[0] += 1
                if time.monotonic() - last_poll >= 20:
                    dashboard.changes()
                    last_poll = time.monotonic()
                stop.wait(1.0)

        with ThreadPoolExecutor(max_workers=args.dashboards) as pool:
            for i, dashboard in enumerate(dashboards):
                pool.submit(run, dashboard, i / args.dashboards)
            time.sleep(2)
            before, started, checks_before = process_cpu_seconds(pids), time.perf_counter(), checks[0]
            time.sleep(args.seconds)
            used = process_cpu_seconds(pids) - before
            wall = time.perf_counter() - started
            rate = (checks[0] - checks_before) / wall
            stop.set()
    finally:
        process_stop(web)

    median = statistics.median(latencies)
    p95 = sorted(latencies)[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    cost = used / wall
    lines = [
        f"live updates benchmark: gunicorn {args.workers} workers x {args.threads} threads; machine load average "
        f"{os.getloadavg()[0]:.1f}",
        f"alert -> row on an open dashboard   median {median:.2f} s   p95 {p95:.2f} s   ({len(latencies)} alerts; "
        "goal p95 < 2 s)",
        f"{args.dashboards} idle dashboards         {cost:.1%} of a core ({rate:.0f} stamp checks/s; "
        f"{cost / max(rate, 1e-9) * 1000:.2f} ms CPU per check)   goal < 10 %",
        f"baseline: the idle server         {idle_baseline:.1%} of a core",
    ]
    print("\n".join(lines))
    summary = {
        "benchmark": "live",
        "latency_median_s": round(median, 3),
        "latency_p95_s": round(p95, 3),
        "idle_dashboards": args.dashboards,
        "idle_cost_core_fraction": round(cost, 4),
        "idle_server_core_fraction": round(idle_baseline, 4),
        "stamp_checks_per_s": round(rate, 1),
        "goals_met": {"latency_p95": p95 < 2.0, "idle_cost": cost < 0.10},
        "load_average": os.getloadavg()[0],
    }
    results_write("live", summary, lines)


if __name__ == "__main__":
    main()
