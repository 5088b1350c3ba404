"""Collector targets that hang, refuse or answer garbage, next to a healthy one on the same incident."""

import os
import time

import pytest
import requests

from diagnostics.models import DiagnosticRun, Target
from tests.factories import ServiceFactory
from tests.faults.processes import wait_until
from tests.faults.targets import Blackhole, GarbageHttp, GarbageTcp, Refuser

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

CONNECT_TIMEOUT = 5
RESET_SECONDS = 6


@pytest.fixture(scope="module")
def servers():
    """The misbehaving servers, for the whole module (the worker reads their addresses when it starts)."""
    hang, refuse, garbage_pg, garbage_http = Blackhole(), Refuser(5432), GarbageTcp(), GarbageHttp()
    dsn = "postgresql://postgres@127.0.0.1:{}/postgres"
    os.environ.update(
        {
            "ORION_TARGET_FAULTS_HANG_DSN": dsn.format(hang.port),
            "ORION_TARGET_FAULTS_REFUSE_DSN": dsn.format(refuse.port),
            "ORION_TARGET_FAULTS_GARBAGE_DSN": dsn.format(garbage_pg.port),
        }
    )
    yield {"refuse": refuse, "garbage_http": garbage_http}
    for server in (hang, refuse, garbage_pg, garbage_http):
        server.close()


@pytest.fixture
def bad_targets(transactional_db, servers):
    """Four services: one target hangs, one refuses, two answer garbage, one is healthy."""
    targets = {
        "a-hang": {"postgres": {"dsn_env": "ORION_TARGET_FAULTS_HANG_DSN"}},
        "b-refuse": {"postgres": {"dsn_env": "ORION_TARGET_FAULTS_REFUSE_DSN"}},
        "c-garbage": {
            "postgres": {"dsn_env": "ORION_TARGET_FAULTS_GARBAGE_DSN"},
            "prometheus": {"url": servers["garbage_http"].url, "labels": {"service": "c-garbage"}},
        },
        "d-healthy": {"postgres": {"dsn_env": "ORION_TARGET_FAULTS_PG_DSN"}},
    }
    for slug, kinds in targets.items():
        service = ServiceFactory(slug=slug)
        for kind, config in kinds.items():
            Target.objects.create(service=service, kind=kind, name=f"{slug}-{kind}", config=config)
    return servers["refuse"]


@pytest.fixture(scope="module")
def module_web(module_fleet_factory, module_redis, servers):
    fleet = module_fleet_factory(
        module_redis,
        DIAGNOSTICS_POSTGRES_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        DIAGNOSTICS_PROMETHEUS_QUERY_TIMEOUT_SECONDS="3",
        DIAGNOSTICS_BREAKER_FAIL_MAX="2",
        DIAGNOSTICS_BREAKER_RESET_SECONDS=str(RESET_SECONDS),
    )
    fleet.worker(concurrency=2, wait=False)
    web = fleet.web()
    fleet.ready()
    return web


@pytest.fixture
def web(module_web, bad_targets):
    return module_web


def file_incident(web, token: str, services: list[str]) -> int:
    body = {"title": "Checkout errors", "severity": "P1", "services": services}
    response = requests.post(
        f"{web.url}/api/v1/incidents/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def finished_runs(incident_id: int, count: int) -> dict[str, DiagnosticRun]:
    def done():
        runs = DiagnosticRun.objects.filter(incident_id=incident_id, attached_at__isnull=False)
        return len(runs) == count and {run.target_name: run for run in runs}

    return wait_until(done, timeout=60, interval=0.3, message=f"{count} runs of incident {incident_id} to finish")


def test_bad_targets_end_in_time_and_do_not_delay_the_healthy_one(web, engineer_token):
    incident = file_incident(web, engineer_token, ["a-hang", "c-garbage", "d-healthy"])
    runs = finished_runs(incident, 4)

    healthy = runs.pop("d-healthy-postgres")
    assert healthy.status == "succeeded" and healthy.findings
    # Queued last, it still finished before the hanging target's run gave up.
    assert healthy.finished_at < runs["a-hang-postgres"].finished_at
    for name, run in runs.items():
        took = (run.finished_at - run.created_at).total_seconds()
        # Two attempts (DIAGNOSTICS_MAX_RETRIES=1) of at most the connect timeout each, with a 1 s backoff.
        assert took < 2 * CONNECT_TIMEOUT + 8, (name, took)
    assert runs["a-hang-postgres"].status == "failed" and "timeout" in runs["a-hang-postgres"].error
    assert runs["c-garbage-postgres"].status == "failed" and runs["c-garbage-postgres"].error
    # Prometheus answered each query with broken JSON: every check says it could not run, none guesses.
    garbled = runs["c-garbage-prometheus"]
    assert garbled.findings and {f["status"] for f in garbled.findings} == {"error"}
    assert all(f["summary"].startswith("Check could not run:") for f in garbled.findings)


def test_the_circuit_opens_on_a_refusing_target_and_closes_when_it_recovers(web, engineer_token, bad_targets):
    first = finished_runs(file_incident(web, engineer_token, ["b-refuse"]), 1)["b-refuse-postgres"]
    assert first.status == "failed" and "refused" in first.error and first.attempts == 2

    # Two failed attempts opened the circuit: the next incident's run fails at once, without a connection.
    second = finished_runs(file_incident(web, engineer_token, ["b-refuse"]), 1)["b-refuse-postgres"]
    assert second.status == "failed" and second.error.startswith("circuit open for postgres target b-refuse-postgres")
    assert second.attempts == 1 and (second.finished_at - second.created_at).total_seconds() < CONNECT_TIMEOUT

    # The target recovers; after the reset timeout a trial run goes through and closes the circuit.
    bad_targets.recover()
    time.sleep(RESET_SECONDS + 0.5)
    trial = finished_runs(file_incident(web, engineer_token, ["b-refuse"]), 1)["b-refuse-postgres"]
    assert trial.status == "succeeded", trial.error
    after = finished_runs(file_incident(web, engineer_token, ["b-refuse"]), 1)["b-refuse-postgres"]
    assert after.status == "succeeded", after.error
