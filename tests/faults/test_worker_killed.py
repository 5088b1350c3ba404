"""Workers SIGKILLed under a task: the task is redone and recorded once; a poison task is given up."""

import os
import signal
import socket

import pytest
import requests
from celery import Celery

from diagnostics.models import DiagnosticRun
from incidents.models import TimelineEntry, TimelineKind
from tests.faults.conftest import service_with_target
from tests.faults.processes import wait_until
from tests.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

MAX_REDELIVERIES = 2


class SlowTarget:
    """A PostgreSQL address that hangs (accepts, never answers) until told to forward to the real server."""

    def __init__(self, env_name: str):
        self.blackhole = socket.socket()
        self.blackhole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.blackhole.bind(("127.0.0.1", 0))
        self.blackhole.listen(16)
        self.port = self.blackhole.getsockname()[1]
        self.proxy = TcpProxy("127.0.0.1", 5432)
        os.environ[env_name] = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def answer(self) -> None:
        self.blackhole.close()
        self.proxy.start(self.port)

    def close(self) -> None:
        self.blackhole.close()
        self.proxy.cut()


@pytest.fixture(scope="module")
def slow_targets():
    """``slow``: hangs until the test lets it answer; ``hang``: hangs for good."""
    targets = {name: SlowTarget(f"ORION_TARGET_FAULTS_KILL_{name.upper()}_DSN") for name in ("slow", "hang")}
    yield targets
    for target in targets.values():
        target.close()


@pytest.fixture(scope="module")
def killable_fleet(module_fleet_factory, module_redis, slow_targets):
    """One web server and a one-process worker whose checks wait on a slow target for up to 30 s."""
    fleet = module_fleet_factory(
        module_redis, DIAGNOSTICS_POSTGRES_CONNECT_TIMEOUT="30", CELERY_MAX_REDELIVERIES=str(MAX_REDELIVERIES)
    )
    worker = fleet.worker(concurrency=1, include=["tests.faults.poison_tasks"], wait=False)
    web = fleet.web()
    fleet.ready()
    return web, worker


@pytest.fixture
def killable(killable_fleet, engineer_token):
    """The worker, and a function filing an incident on a service whose target is ``slow`` or ``hang``."""
    web, worker = killable_fleet

    def file_incident(target: str) -> int:
        slug = f"ledger-{target}"
        service_with_target(slug, f"ORION_TARGET_FAULTS_KILL_{target.upper()}_DSN")
        response = requests.post(
            f"{web.url}/api/v1/incidents/", json={"title": "Ledger stuck", "severity": "P1", "services": [slug]},
            headers={"Authorization": f"Bearer {engineer_token}"}, timeout=30,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()["id"]

    return worker, file_incident


def running_attempt(incident_id: int, attempt: int) -> DiagnosticRun | None:
    return DiagnosticRun.objects.filter(incident_id=incident_id, status="running", attempts=attempt).first()


def kill_pool(worker) -> None:
    (child,) = worker.pool_pids()
    os.kill(child, signal.SIGKILL)


def diagnostic_entries(incident_id: int):
    return TimelineEntry.objects.filter(incident_id=incident_id, kind=TimelineKind.DIAGNOSTIC)


def test_worker_killed_mid_diagnostic_redoes_it_and_attaches_once(killable, slow_targets):
    worker, file_incident = killable
    incident_id = file_incident("slow")
    wait_until(lambda: running_attempt(incident_id, 1), timeout=30, message="the first attempt to start")
    kill_pool(worker)
    slow_targets["slow"].answer()

    run = wait_until(
        lambda: DiagnosticRun.objects.filter(incident_id=incident_id, attached_at__isnull=False).first(),
        timeout=45, interval=0.3, message="the redelivered run to finish",
    )  # fmt: skip
    assert run.status == "succeeded", run.error
    assert run.attempts == 2  # the killed delivery, then the redelivery
    assert diagnostic_entries(incident_id).count() == 1
    assert worker.process.poll() is None  # the main process replaced its pool child


def test_a_run_that_always_kills_its_worker_fails_after_bounded_redeliveries(killable, module_redis):
    worker, file_incident = killable
    incident_id = file_incident("hang")
    for attempt in range(1, MAX_REDELIVERIES + 2):
        wait_until(lambda: running_attempt(incident_id, attempt), timeout=45, message=f"delivery {attempt}")  # noqa: B023
        kill_pool(worker)
    run = wait_until(
        lambda: DiagnosticRun.objects.filter(incident_id=incident_id, attached_at__isnull=False).first(),
        timeout=45, interval=0.3, message="the run to be given up",
    )  # fmt: skip
    assert run.status == "failed"
    assert run.attempts == MAX_REDELIVERIES + 1
    lost = MAX_REDELIVERIES + 1
    assert run.error == f"the worker running it was lost {lost} times (killed or out of memory); not tried again"
    (entry,) = diagnostic_entries(incident_id)
    assert "was lost 3 times" in entry.text
    assert_queue_drained(module_redis)


def assert_queue_drained(redis_server) -> None:
    broker = redis_server.client(0)
    prefix = f"{os.environ['REDIS_KEY_PREFIX']}:"  # kombu's global_keyprefix, as the processes under test use it
    wait_until(
        lambda: all(broker.llen(prefix + queue) == 0 for queue in ("diagnostics", "celery"))
        and broker.hlen(prefix + "unacked") == 0,
        timeout=20, message="the queues to drain",
    )  # fmt: skip


def test_a_poison_task_is_given_up_and_the_queue_moves_on(killable, module_redis, tmp_path):
    worker, _ = killable
    tally = tmp_path / "deliveries.txt"
    sender = Celery("faults-sender")
    sender.conf.broker_transport_options = {"global_keyprefix": f"{os.environ['REDIS_KEY_PREFIX']}:"}  # the worker's
    # An explicit connection: Celery would otherwise take the broker from CELERY_BROKER_URL.
    with sender.connection_for_write(module_redis.url(0)) as connection:
        poison = sender.send_task("tests.faults.kill_my_worker", args=[str(tally)], connection=connection)
        sender.send_task("tests.faults.mark_done", args=[str(tally)], connection=connection)
    given_up = f"kill_my_worker[{poison.id}] lost its worker 3 times; giving up on it"
    wait_until(lambda: given_up in worker.log(), timeout=60, message="the poison task to be given up")
    assert_queue_drained(module_redis)
    lines = tally.read_text().split()
    # The healthy task ran (redelivered messages go to the back of the queue), and the poison task ran
    # only for its first delivery and its redeliveries.
    assert lines.count("done") == 1
    assert len(lines) - 1 == MAX_REDELIVERIES + 1
    assert worker.process.poll() is None
