"""Live updates: how soon an alert shows on an open dashboard, and what idle dashboards cost the server.

Serves the app with gunicorn (the same configuration as bench/ingest.py) and the dashboards' event
stream with uvicorn (orion_ops.events, as deployed), signs a viewer in, and follows the dashboard's
own live mechanisms as static/js/dashboard.js does, each in turn:
  stream    the page's event stream (data-events-url): on each ``stamp`` event it asks
            /dashboard/changes/?since=… and looks for the new incident's row;
  check     the one-second check the page falls back to (no stream configured, or the stream down):
            every second it asks /dashboard/stamp/?t=<the page's token>, and the changes when it moved.
Measures, for each:
  latency   --alerts alerts (default 20) POSTed to the Alertmanager webhook at random moments:
            the time from sending the POST to the row arriving (median and p95);
  idle cost --dashboards idle dashboards (default 100) for --seconds seconds, each also asking for
            the changes every 20 s (the poller's back-off ceiling): CPU seconds used by the gunicorn
            and uvicorn processes per wall second (% of one core), and the same for the servers doing
            nothing (the baseline, measured just before).
Goals (issue 17): latency p95 < 2 s; 100 idle dashboards < 10 % of a core.

Usage: .venv/bin/python bench/live.py [--alerts 20] [--dashboards 100] [--seconds 30]
       [--database orion_bench_live] [--redis-db 15] [--port 18410] [--events-port 18411]
"""

import argparse
import os
import queue
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
from common import ROOT, database_fresh, orion_env, process_children, process_stop, results_write, server_wait

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
    return [master, *process_children(master)]


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
        self.events_url = re.search(r'data-events-url="([^"]+)"', page)[1].replace("&amp;", "&")
        self.cursor = re.search(r'data-cursor="(\d+)"', page)[1]
        self.stamp = None
        self.stream = None

    def check(self) -> str:
        """One stamp check; the changed rows' HTML when the stamp moved, else ""."""
        return self.seen(self.session.get(self.stamp_url, timeout=30).json()["changed"])

    def seen(self, changed: int) -> str:
        moved = self.stamp is not None and changed != self.stamp
        self.stamp = changed
        return self.changes() if moved else ""

    def changes(self) -> str:
        data = self.session.get(f"{self.base}/dashboard/changes/", params={"since": self.cursor}, timeout=30).json()
        self.cursor = str(data["cursor"])
        return data.get("rows_html", "")

    def stamps(self):
        """The event stream's stamp values as they come (the stream stays open; close() ends it)."""
        self.stream = requests.get(
            self.events_url, stream=True, timeout=(5, 60), headers={"Accept": "text/event-stream"}
        )
        self.stream.raise_for_status()
        try:
            for line in self.stream.iter_lines(chunk_size=None, decode_unicode=True):
                if line.startswith("data: ") and line[6:]:
                    yield int(line[6:])
        except (requests.RequestException, AttributeError, ValueError, OSError):
            return  # closed from another thread

    def close(self):
        if self.stream is not None:
            self.stream.close()


def percentile_95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def latency_check(watcher: Dashboard, send_alert) -> float:
    """Seconds from an alert's POST to its row, for a page checking the stamp once a second."""
    sent = time.perf_counter()
    incident = send_alert()
    next_check = sent + random.uniform(0, 1)  # noqa: S311  (where in its second the page happens to be)
    while True:
        time.sleep(max(0.0, next_check - time.perf_counter()))
        if f'id="incident-{incident}"' in watcher.check():
            return time.perf_counter() - sent
        next_check += 1.0
        if time.perf_counter() - sent > 30:
            raise SystemExit("an alert did not show within 30 s")


def stamps_forward(dashboard: Dashboard, into: queue.Queue) -> None:
    for value in dashboard.stamps():
        into.put(value)


def latency_stream(watcher: Dashboard, stamps, send_alert) -> float:
    """Seconds from an alert's POST to its row, for a page on the event stream."""
    sent = time.perf_counter()
    incident = send_alert()
    while True:
        stamp = stamps.get(timeout=30)
        if f'id="incident-{incident}"' in watcher.seen(stamp):
            return time.perf_counter() - sent
        if time.perf_counter() - sent > 30:
            raise SystemExit("an alert did not show within 30 s")


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
    parser.add_argument("--events-port", type=int, default=18411)
    args = parser.parse_args()
    database_fresh(args.database)
    events_base = f"http://127.0.0.1:{args.events_port}"
    env = {
        **os.environ,
        **orion_env(args.database, redis_db=args.redis_db, redis_cache=True, DATABASE_POOL_MAX_SIZE="4",
                    LIVE_EVENTS_URL=f"{events_base}/dashboard/events/"),
    }  # fmt: skip
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
    events = subprocess.Popen(
        [python, "-m", "uvicorn", "orion_ops.events:application", "--host", "127.0.0.1",
         "--port", str(args.events_port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    figures = {}
    try:
        server_wait(base)
        server_wait(events_base)

        def signed_in() -> requests.Session:
            session = requests.Session()
            page = session.get(f"{base}/accounts/login/", timeout=30).text
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
            form = {"username": "bench-viewer", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
            session.post(
                f"{base}/accounts/login/", data=form, timeout=30, headers={"Referer": f"{base}/accounts/login/"}
            )
            return session

        def send_alert() -> int:
            key = f"live-{uuid.uuid4().hex[:10]}"
            answer = requests.post(f"{base}/api/v1/integrations/alertmanager/", json=alert_body(key), timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            return answer.json()["outcomes"][0]["incident"]

        pids = [*gunicorn_pids(web.pid), events.pid]
        for channel in ("stream", "check"):
            # Latency: one open dashboard; alerts sent at random moments.
            watcher = Dashboard(base, signed_in())
            latencies = []
            if channel == "check":
                watcher.check()
                for _ in range(args.alerts):
                    time.sleep(random.uniform(0.5, 1.5))  # noqa: S311
                    latencies.append(latency_check(watcher, send_alert))
            else:
                stamps = queue.Queue()
                threading.Thread(target=stamps_forward, args=(watcher, stamps), daemon=True).start()
                watcher.seen(stamps.get(timeout=30))  # the stream's first event: the stamp as it is
                for _ in range(args.alerts):
                    time.sleep(random.uniform(0.5, 1.5))  # noqa: S311
                    latencies.append(latency_stream(watcher, stamps, send_alert))
                watcher.close()

            # Idle cost: the servers alone, then with N idle dashboards.
            time.sleep(2)
            before = process_cpu_seconds(pids)
            time.sleep(args.seconds / 3)
            idle_baseline = (process_cpu_seconds(pids) - before) / (args.seconds / 3)

            dashboards = [Dashboard(base, signed_in()) for _ in range(args.dashboards)]
            stop = threading.Event()
            requests_made = [0]

            def run(dashboard: Dashboard, offset: float, channel=channel, stop=stop, made=requests_made):
                time.sleep(offset)
                if channel == "stream":
                    for _ in dashboard.stamps():  # holds the connection; any stamp would ask for changes
                        if stop.is_set():
                            return
                    return
                last_poll = time.monotonic()
                while not stop.is_set():
                    dashboard.check()
                    made[0] += 1
                    if time.monotonic() - last_poll >= 20:
                        dashboard.changes()
                        last_poll = time.monotonic()
                    stop.wait(1.0)

            def poll_changes(stop=stop, dashboards=dashboards):
                """The stream pages' pollers, backed off to one ask per 20 s each."""
                while not stop.wait(20 / len(dashboards)):
                    random.choice(dashboards).changes()  # noqa: S311

            with ThreadPoolExecutor(max_workers=args.dashboards + 1) as pool:
                for i, dashboard in enumerate(dashboards):
                    pool.submit(run, dashboard, i / args.dashboards)
                if channel == "stream":
                    pool.submit(poll_changes)
                time.sleep(3)
                before, started, made_before = process_cpu_seconds(pids), time.perf_counter(), requests_made[0]
                events_before = process_cpu_seconds([events.pid])
                time.sleep(args.seconds)
                used = process_cpu_seconds(pids) - before
                events_used = process_cpu_seconds([events.pid]) - events_before
                wall = time.perf_counter() - started
                stop.set()
                for dashboard in dashboards:
                    dashboard.close()
            figures[channel] = {
                "latency_median_s": round(statistics.median(latencies), 3),
                "latency_p95_s": round(percentile_95(latencies), 3),
                "idle_cost_core_fraction": round(used / wall, 4),
                "idle_cost_uvicorn_core_fraction": round(events_used / wall, 4),
                "idle_servers_core_fraction": round(idle_baseline, 4),
                "stamp_checks_per_s": round((requests_made[0] - made_before) / wall, 1),
            }
    finally:
        process_stop(events)
        process_stop(web)

    lines = [
        f"live updates benchmark: gunicorn {args.workers} workers x {args.threads} threads, uvicorn 1 process; "
        f"machine load average {os.getloadavg()[0]:.1f}",
    ]
    names = {"stream": "event stream (uvicorn)", "check": "one-second check (gunicorn)"}
    for channel, f in figures.items():
        lines += [
            f"{names[channel]}:",
            f"  alert -> row on an open dashboard   median {f['latency_median_s']:.2f} s   "
            f"p95 {f['latency_p95_s']:.2f} s   ({args.alerts} alerts; goal p95 < 2 s)",
            f"  {args.dashboards} idle dashboards         {f['idle_cost_core_fraction']:.1%} of a core"
            + (
                f" ({f['stamp_checks_per_s']:.0f} stamp checks/s)"
                if channel == "check"
                else f" (uvicorn {f['idle_cost_uvicorn_core_fraction']:.1%}, the rest gunicorn answering the pollers)"
            )
            + "   goal < 10 %",
            f"  baseline: the idle servers       {f['idle_servers_core_fraction']:.1%} of a core",
        ]
    stream = figures["stream"]
    print("\n".join(lines))
    summary = {
        "benchmark": "live",
        "idle_dashboards": args.dashboards,
        **figures,
        "goals_met": {
            "latency_p95": stream["latency_p95_s"] < 2.0,
            "idle_cost": stream["idle_cost_core_fraction"] < 0.10,
        },
        "load_average": os.getloadavg()[0],
    }
    results_write("live", summary, lines)


if __name__ == "__main__":
    main()
