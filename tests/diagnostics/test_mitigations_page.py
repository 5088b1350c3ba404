"""In Chromium: an engineer scales a deployment from the incident page, after seeing the exact command and warning.

Real pieces throughout: the login form, the page's script (mitigations.js)
under the site's Content-Security-Policy, the REST endpoint, a Celery worker
process, the loopback Kubernetes API server and the scratch PostgreSQL cluster.
"""

import pytest
from playwright.sync_api import expect

from diagnostics.models import Mitigation, Target
from tests.diagnostics import k8s_objects as k
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.kube_api import Cluster, KubeApiServer
from tests.web.conftest import (
    PASSWORD,
    browser_type_launch_args,  # noqa: F401  (fixture: Debian's Chromium)
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_engineer_scales_after_confirming_the_command(page, live_server, celery_worker_process, scratch_pg, tmp_path):
    cluster = Cluster()
    cluster.deployments["task-service"] = k.deployment(replicas=3)
    with KubeApiServer(cluster) as server:
        UserFactory(username="erin", role="engineer")
        service = ServiceFactory(slug="task-service", name="Task service")
        incident = IncidentFactory(title="Task API 5xx", severity="P1", services=[service])
        Target.objects.create(
            service=service, kind="kubernetes", name="task-service",
            config={"kubeconfig": str(server.kubeconfig(tmp_path / "kubeconfig")), "context": "prod",
                    "namespace": "orion-prod", "selector": "app=task-service", "deployment": "task-service",
                    "actions": True},
        )  # fmt: skip
        Target.objects.create(
            service=service, kind="postgres", name="task-db",
            config={"dsn_env": "ORION_TARGET_TEST_PG_DSN", "pool_size_per_pod": 10},
        )  # fmt: skip
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("erin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        panel = page.locator("#panel-mitigations")
        panel.get_by_label("Replicas").fill("5")
        panel.get_by_role("button", name="Scale…").click()

        confirm = panel.locator("[data-mitigation-confirm]")
        expect(confirm).to_be_visible()
        expect(confirm.locator("[data-would-run]")).to_have_text(
            "kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod"
        )
        expect(confirm.locator("[data-current]")).to_have_text("Replicas now: 3.")
        expect(panel.locator(".diagnostics-message")).to_have_text(
            "Nothing has run yet: check the command and the warnings, then confirm."
        )
        expect(confirm.locator("[data-warnings] li")).to_have_count(1)
        expect(confirm.locator("[data-warnings] li")).to_contain_text("can exhaust task-db's connections")
        assert not [r for r in cluster.requests if r["method"] == "PATCH"]  # nothing ran yet
        assert not Mitigation.objects.exists()

        confirm.get_by_role("button", name="Confirm and run").click()
        # The page's live channel shows the outcome, without reloading.
        row = page.locator("li[data-mitigation-id]")
        expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
        expect(row).to_contain_text("3 → 5 replicas")
        expect(page.locator("#timeline li.entry-mitigation")).to_contain_text(
            "Scaled deployment task-service from 3 to 5 replicas"
        )

    (patch,) = [r for r in cluster.requests if r["method"] == "PATCH"]
    assert patch["body"] == {"spec": {"replicas": 5}}
    mitigation = Mitigation.objects.get()
    assert mitigation.actor_name == "erin" and mitigation.requested_by.username == "erin"
    # The unconfirmed request answers 400 by contract (Chromium logs that); nothing else may fail.
    assert [e for e in errors if "status of 400" not in e] == []
    assert len(errors) == 1
