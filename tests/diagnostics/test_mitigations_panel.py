"""The incident page's Mitigate panel, rendered with Django's template engine and on the real page."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from diagnostics.models import Mitigation, Target
from incidents import panels
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

CONFIG = {"kubeconfig": "/etc/orion/kubeconfig", "context": "prod", "namespace": "orion-prod",
          "selector": "app=task-service", "deployment": "task-service", "actions": True}  # fmt: skip


@pytest.fixture
def incident(db):
    service = ServiceFactory(slug="task-service")
    target = Target.objects.create(service=service, kind="kubernetes", name="task-service", config=CONFIG)
    billing = ServiceFactory(slug="billing")
    Target.objects.create(service=billing, kind="kubernetes", name="billing", config={**CONFIG, "actions": False,
                          "deployment": "billing"})  # fmt: skip
    incident = IncidentFactory(services=[service, billing])
    now = timezone.now()
    Mitigation.objects.create(
        incident=incident, service=service, target=target, service_slug="task-service", target_name="task-service",
        deployment="task-service", namespace="orion-prod", action="scale", replicas=5, status="succeeded",
        command="kubectl scale deployment task-service --replicas=5 -n orion-prod --context prod",
        warnings=["Scaling task-service to 5 pods can exhaust task-db's connections"], actor_kind="user",
        actor_name="erin", replicas_before=3, replicas_after=5, started_at=now, finished_at=now,
        detail="scaled task-service from 3 to 5",
    )  # fmt: skip
    Mitigation.objects.create(
        incident=incident, service=service, target=None, service_slug="task-service", target_name="task-service",
        deployment="task-service", namespace="orion-prod", action="restart", status="failed",
        command="kubectl rollout restart deployment task-service -n orion-prod --context prod", actor_kind="user",
        actor_name="erin", error="the Kubernetes API refused it (403 Forbidden)", started_at=now, finished_at=now,
    )  # fmt: skip
    return incident


def render(incident, user):
    request = RequestFactory().get(f"/incidents/{incident.pk}/")
    request.user = user
    (panel,) = [p for p in panels.registered() if p.key == "mitigations"]
    context = {"incident": incident, "request": request, **panel.context(request, incident)}
    return render_to_string(panel.template, context, request=request)


def test_panel_is_registered_after_diagnostics():
    keys = [p.key for p in panels.registered()]
    (panel,) = [p for p in panels.registered() if p.key == "mitigations"]
    assert (panel.title, panel.template) == ("Mitigate", "diagnostics/_mitigations_panel.html")
    assert keys.index("mitigations") == keys.index("diagnostics") + 1


def test_engineer_gets_scale_and_restart_for_targets_that_allow_actions(incident):
    html = render(incident, UserFactory(username="erin", role="engineer"))
    assert f'data-mitigations-url="/api/v1/incidents/{incident.pk}/mitigations/"' in html
    forms = re.findall(r'<form class="mitigation-form" data-mitigation-form data-service="([a-z-]+)"', html)
    assert forms == ["task-service"]  # billing has actions: false
    assert 'name="replicas" min="1" max="50"' in html
    assert 'value="scale">Scale…</button>' in html and 'value="restart" formnovalidate>Restart…</button>' in html
    assert "csrfmiddlewaretoken" in html and "data-confirm" in html and "data-would-run" in html
    assert "Actions are disabled for this target" in html and "deploy/kubernetes/rbac-actions.yaml" in html
    assert '<script src="/static/diagnostics/mitigations.js" defer></script>' in html
    assert "<script>" not in html  # the CSP forbids inline scripts


def test_history_shows_each_mitigation_with_its_status(incident):
    html = render(incident, UserFactory(username="vic", role="viewer"))
    rows = re.findall(r'data-mitigation-id="(\d+)" data-status="(\w+)"', html)
    assert [status for _, status in rows] == ["failed", "succeeded"]  # newest first
    assert "3 → 5 replicas" in html and "1 warning before confirming" in html
    assert "the Kubernetes API refused it (403 Forbidden)" in html
    assert "kubectl rollout restart deployment task-service -n orion-prod --context prod" in html


def test_viewer_and_reviewed_incidents_get_no_buttons(incident):
    assert "data-mitigation-form" not in render(incident, UserFactory(username="vic", role="viewer"))
    type(incident).objects.filter(pk=incident.pk).update(status="reviewed")
    incident.refresh_from_db()
    assert "data-mitigation-form" not in render(incident, UserFactory(username="erin", role="engineer"))


def test_incident_without_kubernetes_targets_says_so(db):
    incident = IncidentFactory(services=[ServiceFactory(slug="mailer")])
    html = render(incident, UserFactory(username="erin", role="engineer"))
    assert "No affected service has a Kubernetes target" in html and "data-mitigation-form" not in html


def test_the_incident_page_shows_the_panel(incident, client):
    client.force_login(UserFactory(username="erin", role="engineer"))
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="panel-mitigations"' in html and 'data-mitigation-form data-service="task-service"' in html
