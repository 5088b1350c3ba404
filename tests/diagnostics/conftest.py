"""A scratch PostgreSQL cluster for the collector, and the environment the Celery worker inherits.

The worker process started by ``celery_worker_process`` copies ``os.environ``
when it starts, so the target DSN variables and the diagnostics settings the
worker must see are set here, at import time, before any fixture runs.
The cluster itself is started by the session fixture ``scratch_pg`` on a
free port (55433 or above) and stopped at the end; the shared server on 5432
is never touched.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.diagnostics import k8s_objects as k
from tests.kube_api import Cluster, KubeApiServer

PG_VERSION_DIR = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]


def _free_port(start: int) -> int:
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for the scratch PostgreSQL cluster")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PG_PORT = _free_port(55433)
REFUSED_PORT = _closed_port()
# Accepts TCP connections and never answers: a target that hangs.
BLACKHOLE = socket.socket()
BLACKHOLE.bind(("127.0.0.1", 0))
BLACKHOLE.listen(64)
HANG_PASSWORD = "s3cret-hang-pw"
WRONG_PASSWORD = "not-the-password-9f8e"

os.environ.update(
    {
        "ORION_TARGET_TEST_PG_DSN": f"postgresql://orion_monitor@127.0.0.1:{PG_PORT}/appdb",
        "ORION_TARGET_TEST_PG_REFUSED_DSN": f"postgresql://orion_monitor@127.0.0.1:{REFUSED_PORT}/appdb",
        "ORION_TARGET_TEST_PG_HANG_DSN": (
            f"postgresql://orion_monitor:{HANG_PASSWORD}@127.0.0.1:{BLACKHOLE.getsockname()[1]}/appdb"
        ),
        # Worker-side settings: short retries, and a statement timeout long enough to kill a worker mid-check.
        "DIAGNOSTICS_MAX_RETRIES": "2",
        "DIAGNOSTICS_RETRY_BACKOFF_SECONDS": "1",
        "DIAGNOSTICS_RETRY_BACKOFF_MAX_SECONDS": "2",
        "DIAGNOSTICS_POSTGRES_STATEMENT_TIMEOUT_MS": "8000",
        "DIAGNOSTICS_POSTGRES_CONNECT_TIMEOUT": "5",
    }
)


@dataclass
class ScratchPostgres:
    port: int

    def dsn(self, database: str = "appdb", user: str = "postgres", password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "appdb", user: str = "postgres", application_name: str = "pytest", **kwargs):
        return psycopg.connect(
            self.dsn(database, user), autocommit=kwargs.pop("autocommit", True), application_name=application_name,
            **kwargs,
        )  # fmt: skip

    def execute(self, statements: str, database: str = "appdb") -> None:
        with self.connect(database) as conn:
            conn.execute(statements)

    def wait_for_stats(self, query: str, database: str = "appdb", timeout: float = 10.0) -> None:
        """Statistics reach the shared view asynchronously: wait until ``query`` returns true."""
        deadline = time.monotonic() + timeout
        with self.connect(database) as conn:
            while time.monotonic() < deadline:
                if conn.execute(query).fetchone()[0]:
                    return
                time.sleep(0.2)
        raise AssertionError(f"statistics never satisfied: {query}")


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def scratch_pg():
    base = Path(tempfile.mkdtemp(prefix="orion-scratch-pg-"))
    postgres = pwd.getpwnam("postgres")
    os.chown(base, postgres.pw_uid, postgres.pw_gid)
    data = base / "data"
    _as_postgres(str(PG_VERSION_DIR / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "--no-sync")
    hba = data / "pg_hba.conf"
    # One role that must give a password, to test wrong credentials; trust for the rest.
    hba.write_text("host all orion_pw 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    options = (
        f"-p {PG_PORT} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=20 "
        "-c shared_preload_libraries=pg_stat_statements -c shared_buffers=16MB -c fsync=off"
    )
    _as_postgres(
        str(PG_VERSION_DIR / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60",
        "-o", options, "start",
    )  # fmt: skip
    cluster = ScratchPostgres(port=PG_PORT)
    try:
        with cluster.connect("postgres") as conn:
            for database in ("appdb", "plaindb", "cachedb"):
                conn.execute(f"CREATE DATABASE {database}")
            conn.execute("CREATE ROLE orion_monitor LOGIN IN ROLE pg_monitor")
            conn.execute("CREATE ROLE orion_app LOGIN")
            conn.execute("CREATE ROLE orion_limited LOGIN")
            conn.execute("CREATE ROLE orion_pw LOGIN PASSWORD 'the-right-password'")
        with cluster.connect("appdb") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            # What docs/diagnostics.md recommends: pg_monitor plus read access to the tables.
            conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO orion_monitor")
            conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO orion_monitor")
        yield cluster
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_VERSION_DIR / "pg_ctl"), "-D", str(data), "-m", "immediate",
             "-w", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def held_sessions(scratch_pg):
    """Open sessions that the test holds; all closed (and their queries cancelled) afterwards."""
    sessions: list[psycopg.Connection] = []
    threads: list[threading.Thread] = []

    class Holder:
        def open(self, database="appdb", user="postgres", application_name="pytest-holder", autocommit=True):
            conn = scratch_pg.connect(database, user, application_name=application_name, autocommit=autocommit)
            sessions.append(conn)
            return conn

        def run_in_background(self, conn, query: str):
            """Run ``query`` on ``conn`` in a thread (it blocks: a sleep or a lock wait)."""

            def target():
                try:
                    conn.execute(query)
                except psycopg.Error:
                    pass  # cancelled at teardown

            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            threads.append(thread)
            return thread

    yield Holder()
    pids = [c.info.backend_pid for c in sessions if not c.closed]
    if pids:
        with scratch_pg.connect("postgres") as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
    for thread in threads:
        thread.join(timeout=10)
    for conn in sessions:
        conn.close()
    # Wait until the server has let go of the terminated backends.
    with scratch_pg.connect("postgres") as admin:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone()[0]
            if not left:
                break
            time.sleep(0.1)


@pytest.fixture
def cluster():
    """A loopback Kubernetes cluster (tests/kube_api.py) with the deployment task-service at 3 replicas."""
    cluster = Cluster()
    cluster.deployments["task-service"] = k.deployment(replicas=3)
    return cluster


@pytest.fixture
def kube(cluster, tmp_path):
    """The cluster's API server, served to the real client; its kubeconfig is at ``kube.kubeconfig_path``."""
    with KubeApiServer(cluster) as server:
        server.kubeconfig_path = server.kubeconfig(tmp_path / "kubeconfig")
        yield server
