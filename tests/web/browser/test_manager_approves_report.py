"""The Review step end to end in Chromium: an engineer resolves as fixed, the report is drafted, the engineer
completes and submits it, a manager finds it in the queue and approves it, and the incident is reviewed."""

import re

import pytest
from playwright.sync_api import expect

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Report
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.browser.conftest import DESKTOP


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_manager_approves_a_report(new_context, live_server, sign_in, artifacts, celery_worker_process):
    erin = UserFactory(username="erin", role="engineer")
    UserFactory(username="mona", role="manager")
    incident = IncidentFactory(
        title="Task DB connection pool exhausted", severity="P1", services=[ServiceFactory(slug="task-service")]
    )
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(erin), note="on it")

    # The engineer resolves it as fixed from the incident page; the report is drafted after the commit.
    engineer = new_context(viewport=DESKTOP).new_page()
    sign_in(engineer, "erin")
    engineer.goto(f"{live_server.url}/incidents/{incident.pk}/")
    engineer.get_by_text("Resolve…").click()
    engineer.get_by_label("How was it resolved?").fill("Pool size 10 → 20, task-service restarted")
    engineer.get_by_role("button", name="Resolve", exact=True).click()
    expect(engineer.locator("#flash")).to_contain_text(f"INC-{incident.pk} resolved.")
    # The worker drafts the report after the move commits; the panel follows without a reload.
    panel = engineer.locator("#panel-report")
    expect(engineer.locator("#timeline li.entry-report")).to_have_count(1, timeout=15_000)
    expect(panel.get_by_role("link", name="Open the report")).to_be_visible(timeout=15_000)
    expect(panel).to_contain_text("Draft")
    panel.get_by_role("link", name="Open the report").click()
    engineer.wait_for_url(f"**/incidents/{incident.pk}/report/")

    # Live preview of the Markdown, then save and submit.
    root_cause = engineer.get_by_label("Root Cause")
    root_cause.fill("The pool (**10** connections) was sized for 2 replicas; we run 5.")
    expect(engineer.locator('[data-preview-for="id_root_cause"] strong')).to_have_text("10")
    engineer.get_by_role("button", name="Save and submit for review").click()
    expect(engineer.locator("#flash")).to_contain_text("submitted for review")
    expect(engineer.locator(".review-bar")).to_contain_text("In review")
    expect(engineer.get_by_role("button", name="Approve report")).to_have_count(0)

    # The manager opens the queue from the navigation and approves.
    manager = new_context(viewport=DESKTOP).new_page()
    sign_in(manager, "mona")
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    row = manager.locator("tr.incident-row", has_text="Task DB connection pool exhausted")
    expect(row).to_contain_text("In review")
    row.get_by_role("link").click()
    manager.wait_for_url(f"**/incidents/{incident.pk}/report/")
    expect(manager.locator("#section-root_cause")).to_contain_text("sized for 2 replicas")
    manager.screenshot(path=str(artifacts / "report-in-review-desktop.png"), full_page=True)
    manager.get_by_role("button", name="Approve report").click()
    expect(manager.locator("#flash")).to_contain_text(f"approved. INC-{incident.pk} is reviewed.")
    expect(manager.locator(".report-head .rstatus")).to_have_text("Approved")

    manager.get_by_role("link", name=f"INC-{incident.pk}").first.click()
    expect(manager.locator("#incident-header .status")).to_have_text(re.compile("Reviewed"))
    expect(manager.locator("#incident-actions")).to_contain_text("Reviewed: this incident's record is closed.")

    stored = Incident.objects.get(pk=incident.pk)
    report = Report.objects.get(incident=stored)
    assert stored.status == "reviewed" and report.status == "approved" and report.approved_by.username == "mona"
    assert "sized for 2 replicas" in report.root_cause
    assert list(stored.timeline.filter(kind="report").values_list("text", flat=True)) == [
        "Post-incident report drafted",
        "Report submitted for review",
        "Report approved",
    ]
