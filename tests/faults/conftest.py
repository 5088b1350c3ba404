"""Fixtures of the fault suite: a private Redis per test, the Orion Ops processes around it, senders.

Web servers, workers and beat run as separate processes on the test database
(``transactional_db``: they see what the test writes, and the test sees what
they write) with their broker and cache on the test's own Redis. Everything
started through ``fleet`` is stopped at the end of the test, whatever happened.
"""

import json
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.conf import settings

from diagnostics.hooks import TARGET_CACHE_SECONDS
from diagnostics.models import Target
from incidents.tokens import api_token_create
from tests.app_server import AppServer
from tests.factories import ServiceFactory, UserFactory
from tests.faults.processes import CeleryBeat, CeleryWorker, PostgresCluster, RedisServer, manage, orion_env
from tests.paging.helpers import person, policy
from tests.paging.receivers import HttpReceiver

# Short limits so a fault shows within seconds, not minutes.
FAST = {
    "DIAGNOSTICS_MAX_RETRIES": "1",
    "DIAGNOSTICS_RETRY_BACKOFF_SECONDS": "1",
    "DIAGNOSTICS_RETRY_BACKOFF_MAX_SECONDS": "1",
    "DIAGNOSTICS_POSTGRES_CONNECT_TIMEOUT": "2",
    "DIAGNOSTICS_POSTGRES_STATEMENT_TIMEOUT_MS": "3000",
    "DIAGNOSTICS_DEBOUNCE_SECONDS": "0",
    "DATABASE_POOL_TIMEOUT": "2",
    "INTAKE_RETRY_AFTER_SECONDS": "1",
}
# A real PostgreSQL the postgres collector can inspect: the shared server, read-only.
os.environ.setdefault("ORION_TARGET_FAULTS_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_database_url() -> str:
    name = settings.DATABASES["default"]["NAME"]
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"


test_database_url.__test__ = False  # a helper, not a test


@dataclass
class Fleet:
    """Orion Ops processes of one test, sharing one environment (database, broker, cache)."""

    env: dict
    logs: Path
    stack: ExitStack
    workers: list = field(default_factory=list)

    def web(self, name: str = "web", **kwargs) -> AppServer:
        # A short graceful timeout: the test's clients keep connections alive, gunicorn would wait 30 s for them.
        server = AppServer(
            self.env, self.logs / f"{name}.log", args=("--graceful-timeout", "2"), start_timeout=90, **kwargs
        )
        try:
            return self.stack.enter_context(server)
        except RuntimeError:  # it never answered: do not leave it running
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
            raise

    def worker(self, name: str = "worker", *, wait: bool = True, **kwargs) -> CeleryWorker:
        """A worker; with ``wait=False`` it boots while the caller starts other processes (see ``ready``)."""
        worker = CeleryWorker(self.env, self.logs / f"{name}.log", name, **kwargs)
        self.stack.callback(worker.stop)
        worker.start(wait=wait)
        self.workers.append(worker)
        return worker

    def ready(self) -> None:
        for worker in self.workers:
            worker.wait_ready()

    def beat(self, name: str = "beat") -> CeleryBeat:
        beat = CeleryBeat(self.env, self.logs / f"{name}.log", name, schedule=self.logs / f"{name}-schedule")
        self.stack.callback(beat.stop)
        return beat.start()


@pytest.fixture
def any_fleet(tmp_path):
    """``any_fleet(redis, database_url, **env)``: a Fleet on that database and Redis."""
    with ExitStack() as stack:

        def make(redis: RedisServer, database_url: str, **overrides: str) -> Fleet:
            env = orion_env(
                DATABASE_URL=database_url,
                CELERY_BROKER_URL=redis.url(0),
                REDIS_URL=redis.url(1),
                **{**FAST, **overrides},
            )
            return Fleet(env=env, logs=tmp_path, stack=stack)

        yield make


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory):
    """One Redis for a module whose tests share their processes (starting them is the slow part)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_fleet_factory(django_db_setup, tmp_path_factory):
    """Like ``fleet_factory``, for processes shared by the tests of a module (each test still gets a flushed
    database: use ``transactional_db`` in the tests)."""
    with ExitStack() as stack:

        def make(redis: RedisServer, **overrides: str) -> Fleet:
            env = orion_env(
                DATABASE_URL=test_database_url(),
                CELERY_BROKER_URL=redis.url(0),
                REDIS_URL=redis.url(1),
                **{**FAST, **overrides},
            )
            return Fleet(env=env, logs=tmp_path_factory.mktemp("fleet"), stack=stack)

        yield make


@pytest.fixture
def fleet_factory(transactional_db, any_fleet):
    """``fleet_factory(redis, **env)``: a Fleet on the test database and that Redis."""
    return lambda redis, **overrides: any_fleet(redis, test_database_url(), **overrides)


@pytest.fixture
def fleet(fleet_factory, redis_server) -> Fleet:
    return fleet_factory(redis_server)


@pytest.fixture
def engineer_token(transactional_db) -> str:
    _, raw = api_token_create(user=UserFactory(username="faults-erin", role="engineer"), name="faults")
    return raw


def service_with_target(slug: str, dsn_env: str = "ORION_TARGET_FAULTS_PG_DSN"):
    """A service whose incidents get a postgres diagnostic run against the target ``dsn_env`` names."""
    service = ServiceFactory(slug=slug)
    Target.objects.create(service=service, kind="postgres", name=f"{slug}-db", config={"dsn_env": dsn_env})
    # The web servers under test are other processes: they learn of a new target once their
    # cache of targeted services expires (documented in diagnostics/hooks.py).
    time.sleep(TARGET_CACHE_SECONDS + 0.5)
    return service


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that records every request (answers 200)."""
    r = HttpReceiver().start()
    yield r
    r.stop()


def paging_to(receiver, *usernames: str) -> None:
    """A default escalation policy with one step per person, each paged by webhook to ``receiver``."""
    people = [person(name, ("webhook", f"{receiver.url}/{name}")) for name in usernames]
    policy("default", *({"users": [someone]} for someone in people))


def pages_delivered_once(receiver, expected: int) -> None:
    """Every page row delivered, and the receiver got each delivery exactly once (by its X-Orion-Delivery id)."""
    from incidents.paging.models import Delivery

    pages = Delivery.objects.filter(purpose="page")
    assert pages.count() == expected
    assert set(pages.values_list("status", flat=True)) == {"delivered"}
    ids = [r.headers["X-Orion-Delivery"] for r in receiver.received]
    assert sorted(ids) == sorted(str(pk) for pk in pages.values_list("pk", flat=True)), "a page lost or sent twice"


class Sender:
    """Sends requests in a background thread like a client that retries 503s, and records every answer."""

    def __init__(self, send, *, count: int, pause: float = 0.05, max_attempts: int = 60):
        self.send, self.count, self.pause, self.max_attempts = send, count, pause, max_attempts
        self.answers: list[tuple[int, int, dict]] = []  # (item, status, headers)
        self.slowest = 0.0  # seconds, the longest any request took
        self.accepted: dict[int, requests.Response] = {}
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sender":
        self._thread.start()
        return self

    def join(self, timeout: float = 120) -> "Sender":
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the sender did not finish"
        return self

    def _run(self) -> None:
        import time

        for item in range(self.count):
            for _ in range(self.max_attempts):
                started = time.monotonic()
                try:
                    response = self.send(item)
                except requests.RequestException as exc:
                    self.errors.append(f"{item}: {type(exc).__name__}")
                    time.sleep(0.5)
                    continue
                finally:
                    self.slowest = max(self.slowest, time.monotonic() - started)
                self.answers.append((item, response.status_code, dict(response.headers)))
                if response.status_code < 300:
                    self.accepted[item] = response
                    break
                if response.status_code != 503:
                    break
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 1.0))
            time.sleep(self.pause)

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.answers]


SETUP_SCRIPT = """
import json
from diagnostics.models import Target
from incidents.integrations import integration_create
from incidents.models import Service
from incidents.tokens import api_token_create
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user("faults-erin", password="unused-9f8e7d6c")
user.groups.add(Group.objects.get(name="engineer"))
service = Service.objects.create(slug="checkout", name="Checkout")
config = {"dsn_env": "ORION_TARGET_FAULTS_PG_DSN"}
Target.objects.create(service=service, kind="postgres", name="checkout-db", config=config)
_, api = api_token_create(user=user, name="faults")
_, am = integration_create(name="am", kind="alertmanager")
print(json.dumps({"api": api, "am": am}))
"""


@dataclass
class AppDatabase:
    """Orion Ops' own database on a scratch cluster the test may stop and start."""

    cluster: PostgresCluster
    url: str
    api_token: str
    alertmanager_token: str

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.cluster.connect("orion") as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def app_database(tmp_path_factory) -> AppDatabase:
    """A scratch cluster holding a migrated Orion Ops database with a service, a token and an integration."""
    cluster = PostgresCluster().init()
    try:
        with cluster.connect() as conn:
            conn.execute("CREATE DATABASE orion")
        url = f"postgres://postgres@127.0.0.1:{cluster.port}/orion"
        env = orion_env(DATABASE_URL=url)
        manage(env, "migrate", "--no-input")
        tokens = json.loads(manage(env, "shell", "-c", SETUP_SCRIPT).strip().splitlines()[-1])
        yield AppDatabase(cluster=cluster, url=url, api_token=tokens["api"], alertmanager_token=tokens["am"])
    finally:
        cluster.destroy()
