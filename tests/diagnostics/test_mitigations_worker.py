"""Mitigations through the API and a real Celery worker process, against the loopback Kubernetes API server.

The worker inherits this process's environment and reads the kubeconfig
path from the target's config; the API server it talks to runs here, so the
requests it receives can be asserted.
"""

from datetime import datetime

import pytest

from diagnostics.models import Mitigation, Target
from incidents.models import TimelineEntry, TimelineKind
from tests.conftest import wait_for
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SCALE_PATH = "/apis/apps/v1/namespaces/orion-prod/deployments/task-service/scale"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/orion-prod/deployments/task-service"


@pytest.fixture
def incident(kube):
    service = ServiceFactory(slug="task-service", name="Task service")
    incident = IncidentFactory(title="Task API 5xx", severity="P1", services=[service])
    # Targets after filing: this test is about mitigations, not the automatic diagnostics.
    Target.objects.create(
        service=service, kind="kubernetes", name="task-service",
        config={"kubeconfig": str(kube.kubeconfig_path), "context": "prod", "namespace": "orion-prod",
                "selector": "app=task-service", "deployment": "task-service", "actions": True},
    )  # fmt: skip
    return incident


def mitigate(api, incident, body: dict):
    return api.post(f"/api/v1/incidents/{incident.pk}/mitigations/", body, format="json")


def finished(mitigation_id: int) -> Mitigation:
    return wait_for(
        lambda: Mitigation.objects.filter(pk=mitigation_id, timeline_entry__isnull=False).first(),
        timeout=30,
        message="the worker to run the mitigation and put it on the timeline",
    )


def entries(incident):
    return TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.MITIGATION)


def test_scale_runs_on_the_worker_with_the_pool_warning_on_the_timeline(
    celery_worker_process, engineer_api, incident, cluster, scratch_pg
):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_DSN", "pool_size_per_pod": 10},
    )  # fmt: skip
    body = {"action": "scale", "service": "task-service", "replicas": 5}
    preview = mitigate(engineer_api, incident, body)
    assert preview.status_code == 400
    assert preview.json()["would_run"] == (
        "kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod"
    )
    (warning,) = preview.json()["warnings"]
    assert warning.startswith("Scaling task-service to 5 pods can exhaust task-db's connections: 5 pods × 10")
    assert not [r for r in cluster.requests if r["method"] == "PATCH"]

    response = mitigate(engineer_api, incident, {**body, "confirm": True})
    assert response.status_code == 202
    mitigation = finished(response.json()["id"])

    assert mitigation.status == "succeeded" and mitigation.attempts == 1
    (patch,) = [r for r in cluster.requests if r["method"] == "PATCH"]
    assert patch["path"] == SCALE_PATH and patch["body"] == {"spec": {"replicas": 5}}
    assert cluster.deployments["task-service"]["spec"]["replicas"] == 5
    (entry,) = entries(incident)
    assert entry.text.startswith(
        "Scaled deployment task-service from 3 to 5 replicas\n"
        "$ kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod\n"
        "Warned before confirming: Scaling task-service to 5 pods can exhaust task-db's connections"
    )
    assert entry.actor_user.username == "erin" and entry.actor_kind == "api"
    assert entry.data["old"] == {"replicas": 3} and entry.data["new"] == {"replicas": 5}
    assert entry.data["warnings"] == [warning]


def test_restart_runs_on_the_worker(celery_worker_process, manager_api, incident, cluster):
    response = mitigate(manager_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    assert response.status_code == 202
    mitigation = finished(response.json()["id"])
    assert mitigation.status == "succeeded"
    (patch,) = [r for r in cluster.requests if r["method"] == "PATCH"]
    assert patch["path"] == DEPLOYMENT_PATH
    restarted_at = patch["body"]["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert abs((datetime.fromisoformat(restarted_at) - mitigation.started_at).total_seconds()) < 10
    (entry,) = entries(incident)
    assert entry.text.startswith(
        "Started a rollout restart of deployment task-service (3 replicas)\n"
        "$ kubectl rollout restart deployment task-service -n orion-prod --context prod"
    )
    assert entry.actor_user.username == "mona"


def test_a_denied_action_is_reported_on_the_timeline(celery_worker_process, engineer_api, incident, cluster):
    cluster.forbidden = True
    response = mitigate(
        engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5, "confirm": True}
    )
    assert response.status_code == 202
    assert response.json()["warnings"][0].startswith("Could not read the current replica count")
    mitigation = finished(response.json()["id"])
    assert mitigation.status == "failed"
    assert mitigation.error.startswith("the Kubernetes API refused it (403 Forbidden): ")
    assert "rbac-actions.yaml" in mitigation.error
    (entry,) = entries(incident)
    assert entry.text.startswith("Scaling deployment task-service to 5 replicas failed: the Kubernetes API refused it")
    assert entry.data["status"] == "failed" and entry.data["error"] == mitigation.error
    assert not [r for r in cluster.requests if r["method"] == "PATCH"]
    assert cluster.deployments["task-service"]["spec"]["replicas"] == 3
