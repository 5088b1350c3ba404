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


def _started(argv: list[str], env: dict, log, log_path: Path, url: str, timeout: float) -> subprocess.Popen:
    """Start a server process and wait until it answers ``/healthz``; its log says why when it does not."""
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    name = argv[2]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-2000:]}")
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return process
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    _stopped(process)
    raise RuntimeError(f"{name} did not start")


def _stopped(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


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
        self.process = _started(
            [
                sys.executable, "-m", "gunicorn", "orion_ops.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--threads", str(self.threads), "--timeout", "60", *self.args,
            ],
            self.env, self._log, self.log_path, self.url, self.start_timeout,
        )  # fmt: skip
        return self

    def __exit__(self, *exc):
        _stopped(self.process)
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
        self.process = _started(
            [
                sys.executable, "-m", "uvicorn", "orion_ops.events:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            ],
            self.env, self._log, self.log_path, self.url, self.start_timeout,
        )  # fmt: skip
        return self

    def stop(self):
        _stopped(self.process)

    def __exit__(self, *exc):
        self.stop()
        self._log.close()
