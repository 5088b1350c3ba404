"""A real Prometheus over scenario data: OpenMetrics written here, blocks built by promtool.

Prometheus answers backfilled data only for queries with an explicit time, which
is how the collector queries anyway. Each run gets a fresh data folder (the
server writes a WAL and a lock into it).
"""

import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.app_server import free_port

Sample = tuple[str, dict, Callable[[float], float]]  # metric name, labels, value at t (seconds since start)


def _labels(labels: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def openmetrics(series: Iterable[Sample], *, start: datetime, end: datetime, step: float = 15.0) -> str:
    """One OpenMetrics document: every series sampled from start to end, families kept together."""
    families: dict[str, list[tuple[dict, Callable]]] = {}
    for name, labels, fn in series:
        families.setdefault(name, []).append((labels, fn))
    t0, t1 = start.timestamp(), end.timestamp()
    lines = []
    for name, members in families.items():
        lines.append(f"# TYPE {name} unknown")
        for labels, fn in members:
            t = t0
            while t <= t1:
                value = fn(t - t0)
                if value is not None and math.isfinite(value):
                    lines.append(f"{name}{_labels(labels)} {value:.6f} {t:.3f}")
                t += step
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class PrometheusServer:
    """``basic_auth``: (user, password, bcrypt hash of the password) to require on every endpoint."""

    def __init__(self, workdir: Path, document: str, *, basic_auth: tuple[str, str, str] | None = None):
        self.workdir = workdir
        self.document = document
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.basic_auth = basic_auth
        self.auth = basic_auth[:2] if basic_auth else None

    def __enter__(self):
        for tool in ("prometheus", "promtool"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: install the Debian package prometheus (scripts/test does)")
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        source = self.workdir / "scenario.om"
        source.write_text(self.document)
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        web = []
        if self.basic_auth:
            user, _, hashed = self.basic_auth
            web_config = self.workdir / "web.yml"
            web_config.write_text(f"basic_auth_users:\n  {user}: '{hashed}'\n")
            web = [f"--web.config.file={web_config}"]
        self.log = open(self.workdir / "prometheus.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y",
                "--web.enable-lifecycle", *web,
            ],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/-/ready", auth=self.auth, timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready in 60 s")

    def query(self, promql: str, at: datetime) -> list:
        response = requests.get(
            f"{self.url}/api/v1/query", params={"query": promql, "time": at.timestamp()}, auth=self.auth, timeout=10
        )
        response.raise_for_status()
        return response.json()["data"]["result"]

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
