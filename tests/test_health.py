import pytest
from django.test import Client

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_broker():
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_unreachable(monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its own settings.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "down"}}


@pytest.mark.django_db
def test_readyz_logs_the_error_but_does_not_answer_it(monkeypatch, caplog):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    with caplog.at_level("WARNING", logger="incidents.health"):
        response = Client().get("/readyz")
    logged = [record.getMessage() for record in caplog.records if record.name == "incidents.health"]
    assert len(logged) == 1 and logged[0].startswith("not ready: broker is down: ")
    # The driver's message names the address; it stays in the log, out of the answer.
    assert "127.0.0.1:1" in logged[0]
    assert "127.0.0.1" not in response.content.decode() and "Error" not in response.content.decode()


@pytest.mark.django_db
def test_metrics_count_open_incidents_and_transitions(engineer, django_capture_on_commit_callbacks):
    IncidentFactory(severity="P1")
    moved = IncidentFactory(severity="P0")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.transition(moved, "acknowledged", actor=Actor.for_user(engineer))
    text = Client().get("/metrics").content.decode()
    assert 'orion_incidents_open{severity="P1",status="detected"} 1.0' in text
    assert 'orion_incidents_open{severity="P0",status="acknowledged"} 1.0' in text
    assert 'orion_incident_transitions_total{to="acknowledged"}' in text
    assert "orion_http_requests_total" in text


@pytest.mark.django_db
def test_metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


@pytest.mark.django_db
def test_metrics_are_summed_over_processes(tmp_path, monkeypatch):
    """Under several gunicorn workers each process writes its own file; /metrics adds them up."""
    import subprocess
    import sys

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    code = (
        "from prometheus_client import Counter;"
        "c = Counter('orion_incident_transitions_total', 'x', ['to']);"
        "c.labels(to='resolved').inc(3)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], check=True, env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    from incidents import metrics

    text = metrics.render().decode()
    assert 'orion_incident_transitions_total{to="resolved"} 6.0' in text
