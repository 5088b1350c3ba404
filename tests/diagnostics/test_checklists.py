"""Runbook checklists: structured steps, attaching (suggested or any), ticking with one entry per change."""

import threading

import pytest
from django.db import connection

from diagnostics import checklists, hypotheses
from diagnostics.runbooks import parse_steps, runbook_get, runbooks_all
from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Report, TimelineKind
from incidents.tasks import draft_report
from tests.diagnostics.test_hypotheses import SATURATED
from tests.diagnostics.test_likely_causes import POOL_TIMEOUTS, run
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


def step_entries(incident):
    return incident.timeline.filter(kind=TimelineKind.RUNBOOK_STEP).order_by("id")


@pytest.fixture
def incident(db):
    return IncidentFactory(services=[ServiceFactory(slug="task-service")])


def url(incident, tail=""):
    return f"/api/v1/incidents/{incident.pk}/runbooks/{tail}"


def test_every_runbook_has_structured_steps():
    for runbook in runbooks_all():
        assert len(runbook.steps) >= 3, runbook.slug
        assert [s.number for s in runbook.steps] == list(range(1, len(runbook.steps) + 1))
        assert all(s.title and len(s.title) < 120 for s in runbook.steps), runbook.slug


def test_steps_are_the_top_level_numbered_items():
    body = (
        "Intro.\n\n1. **Look.** `kubectl get pods`\n   more text\n"
        "2. Fix it. Then check.\n   ```\n   3. not a step\n   ```\n"
    )
    steps = parse_steps(body)
    assert [(s.number, s.title) for s in steps] == [(1, "Look"), (2, "Fix it.")]
    assert "more text" in steps[0].text and "3. not a step" in steps[1].text


def test_attach_tick_and_untick_through_the_api(incident, engineer_api, engineer):
    response = engineer_api.post(url(incident), {"slug": "memory-leak"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["runbook"] == "memory-leak" and len(body["steps"]) == len(runbook_get("memory-leak").steps)
    assert engineer_api.post(url(incident), {"slug": "memory-leak"}, format="json").status_code == 200
    assert step_entries(incident).count() == 1  # attached once

    response = engineer_api.post(url(incident, "memory-leak/steps/2/"), {"done": True}, format="json")
    assert response.status_code == 200
    assert response.json()["done"] is True and response.json()["done_by"] == engineer.get_username()
    engineer_api.post(url(incident, "memory-leak/steps/2/"), {"done": True}, format="json")  # already done
    engineer_api.post(url(incident, "memory-leak/steps/2/"), {"done": False}, format="json")
    entries = list(step_entries(incident))
    assert len(entries) == 3
    assert entries[1].data["new"] is True and entries[1].actor_user == engineer
    assert "step 2 done" in entries[1].text and "step 2 undone" in entries[2].text

    listed = engineer_api.get(url(incident)).json()
    assert [s["done"] for s in listed["checklists"][0]["steps"]] == [False] * len(body["steps"])


def test_bad_input_is_400_or_404(incident, engineer_api):
    assert engineer_api.post(url(incident), {"slug": "no-such-runbook"}, format="json").status_code == 400
    assert engineer_api.post(url(incident), {}, format="json").status_code == 400
    engineer_api.post(url(incident), {"slug": "high-cpu"}, format="json")
    assert engineer_api.post(url(incident, "high-cpu/steps/1/"), {"done": "maybe"}, format="json").status_code == 400
    assert engineer_api.post(url(incident, "high-cpu/steps/99/"), {"done": True}, format="json").status_code == 404
    assert engineer_api.post(url(incident, "slow-queries/steps/1/"), {"done": True}, format="json").status_code == 404


def test_top_hypothesis_suggests_its_runbook(incident, engineer_api):
    service = incident.services.get()
    run(incident, service, "postgres", SATURATED)
    run(incident, service, "kubernetes", POOL_TIMEOUTS)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    suggested = engineer_api.get(url(incident)).json()["suggested"]
    assert suggested["slug"] == "db-connection-pool-exhausted" and suggested["hypothesis"] == "pool_exhausted"
    body = engineer_api.post(url(incident), {"slug": "db-connection-pool-exhausted"}, format="json").json()
    assert body["suggested_by"] == "pool_exhausted"
    assert engineer_api.get(url(incident)).json()["suggested"] is None  # attached: no longer suggested


def test_page_shows_the_checklist_and_the_suggestion(client, incident, engineer):
    checklists.checklist_attach(incident=incident, slug="high-cpu", actor=Actor.for_user(engineer))
    checklists.checklist_step_set(incident=incident, slug="high-cpu", number=1, done=True,
                                  actor=Actor.for_user(engineer))  # fmt: skip
    client.force_login(engineer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    panel = page[page.index('id="panel-runbook-checklist-body"') :]
    panel = panel[: panel.index("</section>\n      </section>") if "</section>\n      </section>" in panel else None]
    assert "High CPU" in panel and f"done by {engineer.get_username()}" in panel
    assert f'data-step-url="/api/v1/incidents/{incident.pk}/runbooks/high-cpu/steps/1/" checked' in panel


@pytest.mark.django_db(transaction=True)
def test_two_people_ticking_the_same_step_at_once_make_one_entry():
    incident = IncidentFactory(services=[ServiceFactory(slug="race-service")])
    alice, bob = UserFactory(username="alice", role="engineer"), UserFactory(username="bob", role="engineer")
    checklists.checklist_attach(incident=incident, slug="slow-queries", actor=Actor.for_user(alice))
    barrier = threading.Barrier(2)
    changed = []

    def tick(user):
        try:
            barrier.wait()
            _, did = checklists.checklist_step_set(
                incident=incident, slug="slow-queries", number=3, done=True, actor=Actor.for_user(user)
            )
            changed.append(did)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick, args=(user,)) for user in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(changed) == [False, True]
    ticks = [e for e in step_entries(incident) if e.data.get("step") == 3]
    assert len(ticks) == 1


def test_checklist_state_is_in_the_report_timeline(engineer):
    incident = IncidentFactory(services=[ServiceFactory(slug="rep-service")], severity="P1")
    actor = Actor.for_user(engineer)
    checklists.checklist_attach(incident=incident, slug="memory-leak", actor=actor)
    checklists.checklist_step_set(incident=incident, slug="memory-leak", number=1, done=True, actor=actor)
    lifecycle.transition(incident, "acknowledged", actor=actor)
    lifecycle.transition(incident, "resolved", actor=actor, resolution="fixed", note="Restarted, leak fixed")
    draft_report.apply(args=[incident.pk])
    report = Report.objects.get(incident=incident)
    markdown = report_markdown(report)
    assert "Memory leak, step 1 done: Leak or sawtooth? (1 of 5 done)" in markdown


def report_markdown(report):
    from incidents.reports import report_markdown as render

    return render(report)


def test_reviewed_incident_refuses_attaching(engineer_api):
    incident = IncidentFactory(services=[ServiceFactory(slug="frozen-service")])
    Incident.objects.filter(pk=incident.pk).update(status="reviewed")
    response = engineer_api.post(url(incident), {"slug": "memory-leak"}, format="json")
    assert response.status_code == 409 and "reviewed" in response.json()["detail"]
