"""A target cannot make Orion Ops send its own secrets: refused in the admin, and again when a run reads them.

Rows written before the rule (or straight into the database) still hold such
names, so the collectors check again and fail the run with a clear error.
"""

import json
import os
import select
import socket

import pytest
from django.contrib.auth import get_user_model

from diagnostics import engine, services
from diagnostics.models import DiagnosticRun, RunTrigger, Target
from diagnostics.targets import TARGET_SETTINGS, target_config_clean
from tests.conftest import wait_for
from tests.factories import IncidentFactory, ServiceFactory

REFUSED = "is not an allowed secret variable (allowed: ORION_TARGET_* and TARGET_SECRET_ENV)"


@pytest.fixture
def listener():
    """A port that would receive the request a refused run must never make."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections_received(sock) -> int:
    readable, _, _ = select.select([sock], [], [], 0.2)
    return len(readable)


def test_every_env_key_of_every_kind_goes_through_the_allow_list():
    env_keys = [
        (kind, key) for kind, model in TARGET_SETTINGS.items() for key in model.model_fields if key.endswith("_env")
    ]
    assert set(env_keys) >= {("postgres", "dsn_env"), ("prometheus", "auth_header_env")}
    for kind, key in env_keys:
        _, errors = target_config_clean(kind, {key: "SECRET_KEY"}, "config")
        assert (f"config.{key}", f"SECRET_KEY {REFUSED}") in errors


@pytest.mark.django_db
def test_admin_refuses_a_target_naming_a_setting(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(admin)
    service = ServiceFactory(slug="task-service")
    form = {
        "service": service.pk,
        "kind": "postgres",
        "name": "task-db",
        "config": json.dumps({"dsn_env": "SECRET_KEY"}),
    }
    response = client.post("/admin/diagnostics/target/add/", form)
    assert response.status_code == 200
    assert f"config.dsn_env: SECRET_KEY {REFUSED}" in response.content.decode()
    assert not Target.objects.exists()

    form["config"] = json.dumps({"dsn_env": "ORION_TARGET_TASK_DB_DSN"})
    assert client.post("/admin/diagnostics/target/add/", form).status_code == 302
    assert Target.objects.get().config == {"dsn_env": "ORION_TARGET_TASK_DB_DSN"}


@pytest.mark.django_db
def test_run_of_an_old_row_naming_a_setting_fails_without_reading_it(listener):
    service = ServiceFactory(slug="task-service")
    # Written straight to the database, as rows from before the rule were.
    Target.objects.create(service=service, kind="postgres", name="task-db", config={"dsn_env": "SECRET_KEY"})
    Target.objects.create(
        service=service,
        kind="prometheus",
        name="task-metrics",
        config={
            "url": f"http://127.0.0.1:{listener.getsockname()[1]}",
            "labels": {"service": "task-service"},
            "auth_header_env": "DATABASE_URL",
        },
    )
    incident = IncidentFactory(services=[service])
    runs = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    outcomes = {run.collector: engine.run_execute(run_id=run.pk) for run in runs}
    assert {collector: o.status for collector, o in outcomes.items()} == {"postgres": "failed", "prometheus": "failed"}
    errors = dict(DiagnosticRun.objects.values_list("collector", "error"))
    assert errors == {
        "postgres": f"dsn_env: SECRET_KEY {REFUSED}",
        "prometheus": f"auth_header_env: DATABASE_URL {REFUSED}",
    }
    assert connections_received(listener) == 0
    for entry in incident.timeline.all():
        assert os.environ["SECRET_KEY"] not in entry.text + json.dumps(entry.data)
        assert os.environ["DATABASE_URL"] not in entry.text + json.dumps(entry.data)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_refuses_to_read_a_setting(celery_worker_process, listener):
    service = ServiceFactory(slug="billing")
    Target.objects.create(
        service=service,
        kind="prometheus",
        name="billing-metrics",
        config={
            "url": f"http://127.0.0.1:{listener.getsockname()[1]}",
            "labels": {"service": "billing"},
            "auth_header_env": "SECRET_KEY",
        },
    )
    incident = IncidentFactory(title="Billing errors", services=[service])
    run = wait_for(
        lambda: DiagnosticRun.objects.filter(incident=incident, attached_at__isnull=False).first(),
        timeout=60,
        message="the refused run to reach the timeline",
    )
    assert run.status == "failed"
    assert run.error == f"auth_header_env: SECRET_KEY {REFUSED}"
    assert connections_received(listener) == 0
