"""The "Likely causes" panel on the incident page, its live version, and the report's Root Cause prefill."""

import pytest
from django.utils import timezone

from diagnostics import hypotheses
from diagnostics.models import DiagnosticRun, Target
from incidents import lifecycle, panels
from incidents.actors import Actor
from incidents.models import Report
from incidents.tasks import draft_report
from incidents.web.views.incident_live import incident_versions
from tests.diagnostics.test_hypotheses import CALM, SATURATED, _f
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db

POOL_TIMEOUTS = [
    _f(
        "kubernetes.logs.pattern.prisma_p2024",
        "crit",
        "Prisma P2024: connection pool timeout: 12 lines",
        "web-1/app",
        observed=12,
        query="kubectl logs web-1 -c app",
    ),  # fmt: skip
    _f("kubernetes.pods", "ok", "All 3 pods running and ready (0 restarts)", "app=task-service"),
]


@pytest.fixture
def service(db):
    return ServiceFactory(slug="task-service")


def run(incident, service, kind, findings):
    target, _ = Target.objects.get_or_create(service=service, kind=kind, defaults={"name": f"{kind}-t", "config": {}})
    return DiagnosticRun.objects.create(
        incident=incident, target=target, collector=kind, target_name=target.name, trigger="on_demand",
        status="succeeded", findings=findings, finished_at=timezone.now(),
    )  # fmt: skip


def page(client, user, incident):
    client.force_login(user)
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_panel_is_first_on_the_page_and_shows_the_top_cause(client, viewer, service):
    incident = IncidentFactory(services=[service])
    first = run(incident, service, "postgres", SATURATED)
    run(incident, service, "kubernetes", POOL_TIMEOUTS)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert panels.registered()[0].key == "likely-causes"
    html = page(client, viewer, incident)
    panel = html[html.index('id="panel-likely-causes-body"') :]
    panel = panel[: panel.index("</section>")]
    assert "Connection pool exhausted" in panel and "94 %" in panel
    assert "Very likely" in panel  # the words, not only a colour
    assert '<meter class="cause-meter"' in panel
    assert f'href="#run-{first.pk}"' in panel and "postgres.connection_saturation" in panel
    assert "Would confirm it:" in panel and "Would rule it out:" in panel
    assert 'href="/runbooks/db-connection-pool-exhausted/"' in panel
    assert f'id="run-{first.pk}"' in html  # the evidence link lands on the run in the Diagnostics panel


def test_panel_before_any_run_and_for_a_healthy_incident(client, viewer, service):
    incident = IncidentFactory(services=[service])
    assert "No diagnostics yet" in page(client, viewer, incident)
    run(incident, service, "postgres", CALM)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    html = page(client, viewer, incident)
    assert "No likely cause stands out" in html


def test_panel_version_changes_when_the_worker_recomputes(service):
    incident = IncidentFactory(services=[service])
    _, before = incident_versions(incident.pk)
    run(incident, service, "postgres", SATURATED)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    _, after = incident_versions(incident.pk)
    assert before["panel-likely-causes-body"] != after["panel-likely-causes-body"]


def test_report_root_cause_is_prefilled_from_the_top_hypothesis_and_exported(engineer, engineer_api, service):
    incident = IncidentFactory(services=[service], severity="P1")
    run(incident, service, "postgres", SATURATED)
    run(incident, service, "kubernetes", POOL_TIMEOUTS)
    actor = Actor.for_user(engineer)
    lifecycle.transition(incident, "acknowledged", actor=actor)
    lifecycle.transition(incident, "resolved", actor=actor, resolution="fixed", note="Pool size 10 → 20")
    draft_report.apply(args=[incident.pk])
    report = Report.objects.get(incident=incident)
    assert report.root_cause.startswith("**Likely cause (very likely,")
    assert "Connection pool exhausted" in report.root_cause
    assert "`postgres.connection_saturation`" in report.root_cause
    assert "`kubernetes.logs.pattern.prisma_p2024`" in report.root_cause
    markdown = engine_get(engineer_api, f"/api/v1/incidents/{incident.pk}/report.md")
    assert "Connection pool exhausted" in markdown and "Likely cause" in markdown
    # Still editable: a person replaces it.
    body = engineer_api.get(f"/api/v1/incidents/{incident.pk}/report/").json()
    response = engineer_api.put(
        f"/api/v1/incidents/{incident.pk}/report/",
        {"version": body["version"], "root_cause": "Pool sized for 2 pods, 6 were running."},
        format="json",
    )
    assert response.status_code == 200
    assert "Pool sized for 2 pods" in engine_get(engineer_api, f"/api/v1/incidents/{incident.pk}/report.md")


def test_report_without_a_likely_cause_keeps_the_strongest_findings(engineer, service):
    incident = IncidentFactory(services=[service], severity="P1")
    run(incident, service, "postgres", [_f("postgres.dead_tuples", "warn", "public.t has 30,000 dead tuples", "t")])
    actor = Actor.for_user(engineer)
    lifecycle.transition(incident, "acknowledged", actor=actor)
    lifecycle.transition(incident, "resolved", actor=actor, resolution="fixed", note="Pool size 10 → 20")
    draft_report.apply(args=[incident.pk])
    root_cause = Report.objects.get(incident=incident).root_cause
    assert "Likely cause" not in root_cause and "public.t has 30,000 dead tuples" in root_cause


def engine_get(api, url):
    response = api.get(url)
    assert response.status_code == 200
    return response.content.decode()
