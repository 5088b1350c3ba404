"""Real processes the fault tests start, break and restart: Redis, PostgreSQL, Celery workers and beat.

Each is a small class with ``start()``, ``stop()`` and (for the servers) ``restart()``
so a test reads as the incident it plays: "Redis goes away for three seconds
while alerts arrive". Web servers are ``tests.app_server.AppServer``.

The servers listen on their own loopback ports (Redis from 6391, PostgreSQL from
55491): the shared servers on 6379 and 5432 are never touched.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]


def free_port(start: int) -> int:
    """The first port from ``start`` that nothing listens on (and that stays free between runs)."""
    for port in range(start, start + 300):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {start}")


def wait_until(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (a Celery worker's pool processes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class RedisServer:
    """A throwaway redis-server: no persistence, so a restart loses everything, as a crashed cache would."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or free_port(6391)
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> "RedisServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / f"redis-{self.port}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=10, message=f"redis on {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SIGKILL: the server vanishes with every connection, as in a crash or an OOM kill."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class PostgresCluster:
    """A scratch PostgreSQL cluster owned by the tests (same recipe as tests/diagnostics/conftest.py)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port(55491)
        self.base = Path(tempfile.mkdtemp(prefix="orion-faults-pg-"))
        self.data = self.base / "data"

    @staticmethod
    def _as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=3, **kwargs)

    def init(self) -> "PostgresCluster":
        owner = pwd.getpwnam("postgres")
        os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> "PostgresCluster":
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c max_connections=40 "
            "-c shared_buffers=16MB -c fsync=off -c synchronous_commit=off"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` drops every session at once, as a crash or a failover does."""
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
             "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def orion_env(**overrides: str) -> dict:
    """The environment of an Orion Ops process: this test run's, with ``overrides``."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env


def manage(env: dict, *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


class _CeleryProcess:
    """A Celery process in its own session, its output in a log file the assertions can read."""

    args: list[str] = []

    def __init__(self, env: dict, log_path: Path, name: str):
        self.env, self.log_path, self.name = env, log_path, name
        self.process: subprocess.Popen | None = None

    def start(self):
        self._log = open(self.log_path, "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orion_ops", *self.command()],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return self

    def command(self) -> list[str]:
        raise NotImplementedError

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Kill the whole process group: nothing of a test's broker is kept, so there is nothing to shut down."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()


class CeleryWorker(_CeleryProcess):
    def __init__(self, env: dict, log_path: Path, name: str = "faults", *, concurrency: int = 1, include=()):
        super().__init__(env, log_path, name)
        self.concurrency, self.include = concurrency, list(include)

    def command(self) -> list[str]:
        extra = ["--include", ",".join(self.include)] if self.include else []
        return [
            "worker", "-Q", "celery,diagnostics", "--concurrency", str(self.concurrency), "--pool", "prefork",
            "--hostname", f"{self.name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", *extra,
        ]  # fmt: skip

    def start(self, *, wait: bool = True):
        super().start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log()[-3000:]}")
            return " ready." in self.log()

        wait_until(ready, timeout=timeout, interval=0.2, message=f"worker {self.name} to be ready")

    def pool_pids(self) -> list[int]:
        return child_pids(self.process.pid)


class CeleryBeat(_CeleryProcess):
    def __init__(self, env: dict, log_path: Path, name: str = "beat", *, schedule: Path):
        super().__init__(env, log_path, name)
        self.schedule = schedule

    def command(self) -> list[str]:
        return ["beat", "--loglevel", "INFO", "--schedule", str(self.schedule), "--max-interval", "1"]
