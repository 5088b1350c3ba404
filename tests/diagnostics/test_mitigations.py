"""POST|GET /api/v1/incidents/{id}/mitigations/ in-process: confirmation, validation, permissions, safety, once-only.

The real `kubernetes` client talks HTTP to the loopback API server of
tests/kube_api.py; the task is called in this process (the worker paths are in
test_mitigations_worker.py).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from diagnostics import mitigations
from diagnostics.apps import time_limits_check
from diagnostics.models import Mitigation, Target
from diagnostics.tasks import run_mitigation
from incidents.models import Incident, TimelineEntry, TimelineKind
from tests.conftest import client_for
from tests.diagnostics import k8s_objects as k
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

SCALE_PATH = "/apis/apps/v1/namespaces/orion-prod/deployments/task-service/scale"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/orion-prod/deployments/task-service"


def kubernetes_target(service, kube, **extra) -> Target:
    config = {
        "kubeconfig": str(kube.kubeconfig_path),
        "context": "prod",
        "namespace": "orion-prod",
        "selector": "app=task-service",
        "deployment": "task-service",
        "actions": True,
        **extra,
    }
    return Target.objects.create(service=service, kind="kubernetes", name="task-service", config=config)


@pytest.fixture
def service(kube):
    service = ServiceFactory(slug="task-service", name="Task service")
    kubernetes_target(service, kube)
    return service


@pytest.fixture
def incident(service):
    return IncidentFactory(title="Task API 5xx", severity="P1", services=[service])


def url(incident) -> str:
    return f"/api/v1/incidents/{incident.pk}/mitigations/"


def mitigate(api, incident, body: dict):
    return api.post(url(incident), body, format="json")


def writes(cluster) -> list[dict]:
    return [r for r in cluster.requests if r["method"] == "PATCH"]


def mitigation_entries(incident):
    return TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.MITIGATION)


# -- confirmation ---------------------------------------------------------------------------


def test_unconfirmed_scale_says_exactly_what_would_run_and_runs_nothing(engineer_api, incident, cluster):
    response = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5})
    assert response.status_code == 400
    body = response.json()
    assert body["would_run"] == "kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod"
    assert body["warnings"] == [] and body["current_replicas"] == 3
    assert body["detail"].startswith("Scale deployment task-service from 3 to 5 replicas? Nothing ran")
    assert "confirm: true" in body["detail"]
    assert not writes(cluster) and not Mitigation.objects.exists() and not mitigation_entries(incident).exists()


def test_unconfirmed_restart_says_what_would_run(engineer_api, incident, cluster):
    body = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": False}).json()
    assert body["would_run"] == "kubectl rollout restart deployment task-service -n orion-prod --context prod"
    assert body["warnings"] == []
    assert not writes(cluster)


def test_confirmed_scale_is_queued_then_run_once_even_when_delivered_twice(engineer_api, incident, cluster):
    response = mitigate(
        engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5, "confirm": True}
    )
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued" and created["actor"].startswith("erin")
    assert created["command"] == "kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod"
    assert not writes(cluster)  # the worker acts, not the web request

    assert run_mitigation.apply(args=[created["id"]]).get() == "succeeded"
    assert run_mitigation.apply(args=[created["id"]]).get() is None  # a redelivery: nothing to do
    (patch,) = writes(cluster)
    assert patch["path"] == SCALE_PATH and patch["body"] == {"spec": {"replicas": 5}}
    (entry,) = mitigation_entries(incident)
    mitigation = Mitigation.objects.get(pk=created["id"])
    assert (mitigation.status, mitigation.replicas_before, mitigation.replicas_after) == ("succeeded", 3, 5)
    assert mitigation.attempts == 1 and mitigation.timeline_entry_id == entry.pk
    assert entry.text.startswith("Scaled deployment task-service from 3 to 5 replicas\n$ kubectl scale deployment")
    assert entry.actor_user.username == "erin" and entry.actor_name == "erin (token tests)"
    assert entry.data["old"] == {"replicas": 3} and entry.data["new"] == {"replicas": 5}
    assert entry.data["command"] == created["command"] and entry.data["mitigation_id"] == created["id"]
    assert Incident.objects.get(pk=incident.pk).status == "detected"  # moving the incident stays a person's call


def test_confirmed_restart_patches_the_template_annotation(engineer_api, incident, cluster):
    created = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    assert created.status_code == 202
    run_mitigation.apply(args=[created.json()["id"]])
    (patch,) = writes(cluster)
    assert patch["path"] == DEPLOYMENT_PATH
    annotations = patch["body"]["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    (entry,) = mitigation_entries(incident)
    assert entry.text.startswith("Started a rollout restart of deployment task-service (3 replicas)")
    assert entry.data["old"] == entry.data["new"] == {"replicas": 3}


def test_a_second_request_while_one_is_under_way_is_refused(engineer_api, manager_api, incident, cluster):
    first = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    preview = mitigate(manager_api, incident, {"action": "restart", "service": "task-service"}).json()
    assert any(f"Mitigation #{first.json()['id']}" in w and "still queued" in w for w in preview["warnings"])
    again = mitigate(manager_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    assert again.status_code == 409 and again.json()["mitigation"] == first.json()["id"]
    assert Mitigation.objects.count() == 1


# -- validation and permissions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"action": "scale", "service": "task-service"}, "replicas", "Required to scale"),
        ({"action": "scale", "service": "task-service", "replicas": 0}, "replicas", "Must be between 1 and 50"),
        ({"action": "scale", "service": "task-service", "replicas": 51}, "replicas", "Must be between 1 and 50"),
        ({"action": "restart", "service": "task-service", "replicas": 2}, "replicas", "Only for scale"),
        ({"action": "scale", "service": "nope", "replicas": 2}, "service", "No service 'nope'."),
        ({"action": "scale", "service": "billing", "replicas": 2}, "service", "billing is not affected by INC-"),
        ({"action": "delete", "service": "task-service"}, "action", "is not a valid choice"),
    ],
)
def test_bad_requests_are_field_errors(engineer_api, incident, cluster, body, field, message):
    ServiceFactory(slug="billing")
    response = mitigate(engineer_api, incident, {**body, "confirm": True})
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not writes(cluster) and not Mitigation.objects.exists()


def test_max_replicas_is_configurable(engineer_api, incident, settings):
    settings.DIAGNOSTICS_MITIGATION_MAX_REPLICAS = 4
    response = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5})
    assert response.json()["replicas"] == [
        "Must be between 1 and 4 (DIAGNOSTICS_MITIGATION_MAX_REPLICAS); scaling to zero is an outage, not a mitigation."
    ]


def test_a_service_without_a_kubernetes_target_is_a_field_error(engineer_api, incident):
    other = ServiceFactory(slug="mailer")
    incident.services.add(other)
    response = mitigate(engineer_api, incident, {"action": "restart", "service": "mailer"})
    assert response.status_code == 400
    assert response.json() == {"service": ["mailer has no kubernetes target; add one with sync_services."]}


def test_a_target_without_actions_is_403_and_says_how_to_enable(engineer_api, incident, cluster):
    Target.objects.filter(kind="kubernetes").update(config={**Target.objects.get().config, "actions": False})
    for confirm in (False, True):
        response = mitigate(
            engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5, "confirm": confirm}
        )
        assert response.status_code == 403
        detail = response.json()["detail"]
        assert detail.startswith("Actions are disabled for the kubernetes target of task-service")
        assert "actions: true" in detail and "deploy/kubernetes/rbac-actions.yaml" in detail
    assert not cluster.requests and not Mitigation.objects.exists()


@pytest.mark.parametrize(("role", "code"), [("viewer", 403), ("outsider", 403), ("engineer", 400), ("manager", 400)])
def test_acting_needs_the_engineer_role(incident, role, code):
    user = UserFactory(username=f"{role}-person", role=None if role == "outsider" else role)
    response = client_for(user).post(url(incident), {"action": "restart", "service": "task-service"}, format="json")
    assert response.status_code == code
    if code == 400:
        assert "would_run" in response.json()


def test_a_reviewed_incident_is_409(engineer_api, incident):
    Incident.objects.filter(pk=incident.pk).update(status="reviewed")
    response = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    assert response.status_code == 409 and response.json()["status"] == "reviewed"


def test_anonymous_is_refused(anonymous_api, incident):
    assert mitigate(anonymous_api, incident, {"action": "restart", "service": "task-service"}).status_code in (
        401,
        403,
    )


# -- warnings -------------------------------------------------------------------------------------


def test_an_autoscaler_that_will_undo_the_scale_is_a_warning(engineer_api, incident, cluster):
    cluster.hpas = [k.hpa(current=10, desired=10, minimum=2, maximum=10)]
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 12}).json()
    assert body["warnings"] == [
        "HorizontalPodAutoscaler task-service manages task-service (min 2, max 10): it will scale back down to its "
        "maximum of 10; raise maxReplicas instead."
    ]


def test_an_unreadable_deployment_is_a_warning_not_an_error(engineer_api, incident, cluster):
    cluster.forbidden = True
    response = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5})
    assert response.status_code == 400
    body = response.json()
    assert body["current_replicas"] is None
    assert body["warnings"][0].startswith(
        "Could not read the current replica count of deployment task-service: the Kubernetes API refused it "
        "(403 Forbidden)"
    )


def test_scaling_up_warns_when_the_database_has_too_few_free_connections(
    engineer_api, incident, cluster, scratch_pg, held_sessions
):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_DSN", "pool_size_per_pod": 4},
    )  # fmt: skip
    for _ in range(6):
        held_sessions.open(application_name="task-service")
    with scratch_pg.connect("postgres") as conn:
        usable, in_use = conn.execute(
            """SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
                      - COALESCE(NULLIF(current_setting('reserved_connections', true), ''), '0')::int,
                      (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') - 1"""
        ).fetchone()
    free = usable - in_use
    assert 0 < free < 16  # 17 usable in the scratch cluster, 6 held here

    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 4}).json()
    (warning,) = body["warnings"]
    assert warning == (
        f"Scaling task-service to 4 pods can exhaust task-db's connections: 4 pods × 4 (pool_size_per_pod) = 16 "
        f"connections at full pools; the 1 added pod alone needs 4, but only {free} of {usable} usable connections "
        f"are free ({in_use} in use). Scaling out makes pool exhaustion worse; see "
        "/runbooks/db-connection-pool-exhausted/."
    )

    # Confirmed, the warning goes with the mitigation to the timeline.
    created = mitigate(
        engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 4, "confirm": True}
    ).json()
    assert created["warnings"] == [warning]
    run_mitigation.apply(args=[created["id"]])
    (entry,) = mitigation_entries(incident)
    assert entry.data["warnings"] == [warning]
    assert entry.data["safety"]["database"] == {
        "database": "task-db", "pool_size_per_pod": 4, "replicas": 4, "needed": 16,
        "free": free, "usable": usable, "in_use": in_use,
    }  # fmt: skip
    assert f"Warned before confirming: {warning}" in entry.text


def test_scaling_up_within_the_free_connections_has_no_warning(engineer_api, incident, scratch_pg):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_DSN", "pool_size_per_pod": 1},
    )  # fmt: skip
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5}).json()
    assert body["warnings"] == []


def test_scaling_down_skips_the_connection_check(engineer_api, incident):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_UNSET_DSN", "pool_size_per_pod": 50},
    )  # fmt: skip
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 2}).json()
    assert body["warnings"] == []


def test_unset_pool_size_and_unset_dsn_are_said(engineer_api, incident):
    database = Target.objects.create(
        service=incident.services.get(),
        kind="postgres",
        name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_UNSET_DSN"},
    )
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5}).json()
    assert body["warnings"] == [
        "Cannot check that 5 pods fit in task-db's connections: its PostgreSQL target sets no pool_size_per_pod. "
        "Set postgres.pool_size_per_pod for task-service in the targets file."
    ]
    database.config["pool_size_per_pod"] = 10
    database.save()
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5}).json()
    assert body["warnings"] == [
        "Could not check task-db's free connections: environment variable ORION_TARGET_TEST_PG_UNSET_DSN is not set in "
        "the web process. "
        "5 pods × 10 connections (pool_size_per_pod) = 50; the 2 added pods alone need 20."
    ]


def test_a_dsn_env_naming_a_setting_is_not_read_for_the_check(engineer_api, incident):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "DATABASE_URL", "pool_size_per_pod": 10},
    )  # fmt: skip
    body = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5}).json()
    assert body["warnings"] == [
        "Could not check task-db's free connections: dsn_env: DATABASE_URL is not an allowed secret variable "
        "(allowed: ORION_TARGET_* and TARGET_SECRET_ENV). "
        "5 pods × 10 connections (pool_size_per_pod) = 50; the 2 added pods alone need 20."
    ]


def test_an_unreachable_database_is_a_warning(engineer_api, incident):
    Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db",
        config={"dsn_env": "ORION_TARGET_TEST_PG_REFUSED_DSN", "pool_size_per_pod": 10},
    )  # fmt: skip
    response = mitigate(engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5})
    (warning,) = response.json()["warnings"]
    assert re.match(r"Could not check task-db's free connections \(could not connect: .*refused", warning)
    assert warning.endswith("5 pods × 10 connections (pool_size_per_pod) = 50; the 2 added pods alone need 20.")


# -- failures -------------------------------------------------------------------------------------


def test_a_denied_action_fails_the_mitigation_with_a_clear_error(engineer_api, incident, cluster):
    created = mitigate(
        engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 5, "confirm": True}
    ).json()
    cluster.forbidden = True
    assert run_mitigation.apply(args=[created["id"]]).get() == "failed"
    mitigation = Mitigation.objects.get(pk=created["id"])
    assert mitigation.status == "failed" and mitigation.replicas_after is None
    assert mitigation.error.startswith("the Kubernetes API refused it (403 Forbidden): ")
    assert mitigation.error.endswith("apply deploy/kubernetes/rbac-actions.yaml in namespace orion-prod.")
    (entry,) = mitigation_entries(incident)
    assert entry.text.startswith(f"Scaling deployment task-service to 5 replicas failed: {mitigation.error}")
    assert entry.data["status"] == "failed" and entry.actor_user.username == "erin"
    assert not writes(cluster)


def test_actions_disabled_after_confirmation_are_not_run(engineer_api, incident, cluster):
    created = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    target = Target.objects.get(kind="kubernetes")
    target.config["actions"] = False
    target.save()
    run_mitigation.apply(args=[created.json()["id"]])
    mitigation = Mitigation.objects.get()
    assert mitigation.status == "failed" and mitigation.error.startswith("not run: actions were disabled")
    assert not writes(cluster) and mitigation_entries(incident).count() == 1


def test_an_expired_mitigation_is_failed_not_run_late(engineer_api, incident, cluster):
    created = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    Mitigation.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    assert run_mitigation.apply(args=[created.json()["id"]]).get() is None
    mitigation = Mitigation.objects.get()
    assert mitigation.status == "failed" and mitigation.error.startswith("not run: no worker started it within 300 s")
    assert not writes(cluster) and mitigation_entries(incident).count() == 1
    assert mitigations.mitigations_reap_stale() == 0  # already reported


def test_reaper_reports_a_mitigation_whose_worker_died(engineer_api, incident, cluster):
    created = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    later = timezone.now() + timedelta(minutes=5)
    assert mitigations.mitigation_claim(mitigation_id=created.json()["id"]) is not None  # then the worker died
    assert run_mitigation.apply(args=[created.json()["id"]]).get() is None  # the redelivery does not act again
    assert mitigations.mitigations_reap_stale(now=later) == 1
    assert mitigations.mitigations_reap_stale(now=later) == 0
    mitigation = Mitigation.objects.get()
    assert mitigation.status == "failed"
    assert mitigation.error == (
        "the worker running it stopped; the outcome is unknown: check with kubectl get deployment task-service "
        "-n orion-prod"
    )
    assert not writes(cluster) and mitigation_entries(incident).count() == 1


# -- listing ------------------------------------------------------------------------------------


def test_get_lists_mitigations_newest_first(engineer_api, viewer_api, incident, django_assert_num_queries):
    first = mitigate(engineer_api, incident, {"action": "restart", "service": "task-service", "confirm": True})
    run_mitigation.apply(args=[first.json()["id"]])
    second = mitigate(
        engineer_api, incident, {"action": "scale", "service": "task-service", "replicas": 4, "confirm": True}
    )
    with django_assert_num_queries(5):  # token, user, role, incident, mitigations
        response = viewer_api.get(url(incident))
    assert response.status_code == 200
    listed = response.json()["mitigations"]
    assert [m["id"] for m in listed] == [second.json()["id"], first.json()["id"]]
    assert set(listed[0]) == {
        "id", "incident", "action", "service", "target", "deployment", "namespace", "replicas", "command",
        "warnings", "status", "actor", "created_at", "started_at", "finished_at", "replicas_before",
        "replicas_after", "detail", "error", "timeline_entry",
    }  # fmt: skip
    assert listed[0]["status"] == "queued" and listed[1]["status"] == "succeeded"
    assert listed[1]["target"] == {"kind": "kubernetes", "name": "task-service"}
    assert listed[1]["created_at"].endswith("Z")


def test_openapi_documents_the_endpoint(viewer_api):
    schema = viewer_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"]["/api/v1/incidents/{incident_id}/mitigations/"]
    assert set(path) >= {"get", "post"}
    assert set(path["post"]["responses"]) >= {"202", "400", "403", "409"}
    assert schema["components"]["schemas"]["MitigationRequestActionEnum"]["enum"] == ["scale", "restart"]


def test_mitigation_time_limits_are_checked(settings):
    assert not [e for e in time_limits_check() if e.id == "diagnostics.E003"]
    settings.DIAGNOSTICS_MITIGATION_SOFT_TIME_LIMIT = 90
    (error,) = [e for e in time_limits_check() if e.id == "diagnostics.E003"]
    assert error.msg.startswith("Mitigation time limits (soft 90 s, hard 60 s) must be soft < hard")
