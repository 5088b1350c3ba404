"""Run Orion Ops under gunicorn in a subprocess, with environment overrides, for outage tests."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    def __init__(
        self, env: dict, log_path: Path, *, workers: int = 1, threads: int = 4, args: tuple = (), start_timeout=30
    ):
        self.workers, self.threads, self.start_timeout = workers, threads, start_timeout
        self.args = list(args)  # more gunicorn options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = log_path
        self.process = None

    def __enter__(self):
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "orion_ops.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--threads", str(self.threads), "--timeout", "60", *self.args,
            ],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return self
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


class EventsServer:
    """The dashboards' event stream (orion_ops.events) under uvicorn, on the test database, signing with the
    test process's SECRET_KEY so the tokens pages are given there are valid here."""

    def __init__(self, log_path: Path, env: dict | None = None, start_timeout=30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**self.base_env(), **(env or {})}
        self.log_path, self.start_timeout, self.process = log_path, start_timeout, None

    @staticmethod
    def base_env() -> dict:
        from django.conf import settings

        env = {**os.environ, "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
        database = settings.DATABASES["default"]
        if "postgresql" in database["ENGINE"] and "DATABASE_URL" in os.environ:
            env["DATABASE_URL"] = f"{os.environ['DATABASE_URL'].rsplit('/', 1)[0]}/{database['NAME']}"
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def __enter__(self):
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "orion_ops.events:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            ],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return self
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __exit__(self, *exc):
        self.stop()
        self._log.close()
