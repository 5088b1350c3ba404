import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management.base import CommandError
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from incidents.tokens import api_token_create
from tests.factories import ServiceFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("viewer", "engineer", "manager")


@pytest.fixture(scope="session", autouse=True)
def _clean_redis():
    """Fresh broker and cache databases: no task from an earlier run is redelivered."""
    for url in (os.environ["CELERY_BROKER_URL"], os.environ["REDIS_URL"]):
        redis.Redis.from_url(url).flushdb()


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def engineer(db):
    return UserFactory(username="erin", role="engineer")


@pytest.fixture
def manager(db):
    return UserFactory(username="mona", role="manager")


@pytest.fixture
def viewer(db):
    return UserFactory(username="vic", role="viewer")


@pytest.fixture
def outsider(db):
    return UserFactory(username="olga")


@pytest.fixture
def service(db):
    return ServiceFactory(slug="task-service", name="Task service")


def client_for(user) -> APIClient:
    """An API client authenticated with a real bearer token of ``user``."""
    _, raw = api_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api_for():
    return client_for


@pytest.fixture
def engineer_api(engineer):
    return client_for(engineer)


@pytest.fixture
def manager_api(manager):
    return client_for(manager)


@pytest.fixture
def viewer_api(viewer):
    return client_for(viewer)


_flush_after_test = TransactionTestCase._fixture_teardown


def _flush_after_test_retrying_deadlocks(self):
    """Flush again when PostgreSQL broke a deadlock against us.

    A real worker may still be finishing a follow-up of the test (a draft, a hypotheses
    recompute) when the test's tables are truncated; PostgreSQL then cancels one side.
    The worker's task retries or is moot; the flush must not leave rows to the next test.
    """
    for attempt in range(5):
        try:
            return _flush_after_test(self)
        except CommandError as exc:
            if "deadlock detected" not in str(exc.__cause__) or attempt == 4:
                raise
            time.sleep(0.5)


TransactionTestCase._fixture_teardown = _flush_after_test_retrying_deadlocks


@pytest.fixture
def anonymous_api():
    return APIClient()


def _worker_env(db_name: str) -> dict:
    env = dict(os.environ)
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env["DATABASE_URL"] = f"{url}/{db_name}"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process on Redis, using the test database."""
    from orion_ops.celery import app

    db_name = settings.DATABASES["default"]["NAME"]
    log = open(Path(settings.VAR_DIR) / "celery-worker.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "orion_ops", "worker",
            "-Q", "celery,diagnostics", "--concurrency", "2", "--pool", "prefork",
            "--hostname", "orion-test@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT,
        env=_worker_env(db_name),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {process.returncode}; see {log.name}")
        replies = app.control.ping(timeout=1.0)
        if any(name.startswith("orion-test@") for reply in replies for name in reply):
            break
    else:
        process.kill()
        raise RuntimeError(f"Celery worker did not answer a ping within 60 s; see {log.name}")
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
