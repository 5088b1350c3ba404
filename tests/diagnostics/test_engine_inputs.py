"""The engine hands each collector its configuration and its target's secrets; collectors read neither.

In-process runs (``engine.run_execute``) against the real scratch PostgreSQL
cluster and a real Prometheus that requires basic authentication.
"""

import base64
from datetime import timedelta

import pytest

from diagnostics import engine, services
from diagnostics.collectors.base import ConfigurationError, TargetSpec, Window
from diagnostics.collectors.prometheus import PrometheusCollector
from diagnostics.credentials import target_secrets
from diagnostics.models import DiagnosticRun, RunTrigger, Target
from tests.factories import IncidentFactory, ServiceFactory
from tests.prometheus_server import PrometheusServer, openmetrics, utc

PROM_USER, PROM_PASSWORD = "orion", "prom-secret-for-tests"
PROM_HASH = "$2b$04$CHRY/4ofVuLSW8poQq8vEe98ug0VVre5J3ChYtfsS10TblXT4TphC"  # bcrypt of PROM_PASSWORD
AUTH_ENV = "ORION_TARGET_TEST_PROM_AUTH"


def prometheus_config(server: PrometheusServer) -> dict:
    return {"url": server.url, "labels": {"service": "task-service"}, "auth_header_env": AUTH_ENV}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def guarded_prometheus(tmp_path_factory):
    start = utc("2026-11-20T09:00:00+00:00")
    document = openmetrics(
        [("http_requests_total", {"service": "task-service", "status": "200"}, lambda t: 10 * t)],
        start=start,
        end=start + timedelta(hours=1),
    )
    with PrometheusServer(
        tmp_path_factory.mktemp("prometheus"), document, basic_auth=(PROM_USER, PROM_PASSWORD, PROM_HASH)
    ) as server:
        yield server


def target_of(kind: str, name: str, config: dict) -> Target:
    return Target.objects.create(service=ServiceFactory(slug="task-service"), kind=kind, name=name, config=config)


def run_once(target: Target) -> DiagnosticRun:
    incident = IncidentFactory(services=[target.service])
    (run,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    engine.run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_configured_thresholds_reach_the_collector(scratch_pg, settings):
    target = target_of("postgres", "task-db", {"dsn_env": "ORION_TARGET_TEST_PG_DSN"})
    settings.DIAGNOSTICS_POSTGRES_CONNECTIONS_WARN_PERCENT = 1.0
    settings.DIAGNOSTICS_POSTGRES_CONNECTIONS_CRIT_PERCENT = 99.0
    run = run_once(target)
    assert run.status == "succeeded"
    (saturation,) = [f for f in run.findings if f["check"] == "postgres.connection_saturation"]
    assert saturation["evidence"]["threshold"] == {"warn": 1.0, "crit": 99.0}
    assert saturation["status"] == "warn"  # the collector's own session alone is over 1 %


@pytest.mark.django_db
def test_the_auth_header_is_read_by_the_engine_and_sent_by_the_collector(guarded_prometheus, monkeypatch):
    target = target_of("prometheus", "task-metrics", prometheus_config(guarded_prometheus))
    monkeypatch.setenv(AUTH_ENV, basic(PROM_USER, PROM_PASSWORD))
    run = run_once(target)
    assert run.status == "succeeded", run.error
    assert len(run.findings) == len(PrometheusCollector.checks)
    assert "error" not in {f["status"] for f in run.findings}

    monkeypatch.setenv(AUTH_ENV, basic(PROM_USER, "wrong"))
    refused = run_once(target)
    assert (refused.status, refused.error) == ("failed", "Prometheus refused access (401)")

    monkeypatch.delenv(AUTH_ENV)
    unset = run_once(target)
    assert (unset.status, unset.error) == ("failed", f"environment variable {AUTH_ENV} is not set on this worker")


def test_the_collector_never_looks_for_a_secret_itself(guarded_prometheus, monkeypatch):
    monkeypatch.setenv(AUTH_ENV, basic(PROM_USER, PROM_PASSWORD))
    target = TargetSpec(kind="prometheus", name="task-metrics", config=prometheus_config(guarded_prometheus))
    window = Window(start=utc("2026-11-20T09:30:00+00:00"), now=utc("2026-11-20T10:00:00+00:00"))
    with pytest.raises(ConfigurationError, match="no value for auth_header_env"):
        PrometheusCollector().collect(target, window)
    findings = PrometheusCollector().collect(target, window, secrets=target_secrets(target.config))
    (error_rate,) = [f for f in findings if f.check == "prometheus.error_rate"]
    assert error_rate.status == "ok" and error_rate.evidence.observed == 0


def test_secrets_are_read_by_their_stem(monkeypatch):
    monkeypatch.setenv("ORION_TARGET_TASK_DB_DSN", "postgresql://app@db/app")
    monkeypatch.setenv(AUTH_ENV, "Bearer abc")
    config = {"dsn_env": "ORION_TARGET_TASK_DB_DSN", "auth_header_env": AUTH_ENV, "url": "http://p:9090"}
    assert target_secrets(config) == {"dsn": "postgresql://app@db/app", "auth_header": "Bearer abc"}
    assert target_secrets({"namespace": "orion-prod", "selector": "app=x"}) == {}
    with pytest.raises(ConfigurationError) as refused:
        target_secrets({"dsn_env": "SECRET_KEY"})
    assert refused.value.message.startswith("dsn_env: SECRET_KEY is not an allowed secret variable")
    with pytest.raises(ConfigurationError, match="ORION_TARGET_UNSET_DSN is not set in the web process"):
        target_secrets({"dsn_env": "ORION_TARGET_UNSET_DSN"}, where="in the web process")
