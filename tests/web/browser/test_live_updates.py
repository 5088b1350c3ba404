"""A second browser sees changes without reloading: status moves, new incidents, timeline entries."""

import re

import pytest
from playwright.sync_api import expect

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory, UserFactory


def mark_page(page):
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded"


@pytest.mark.django_db(transaction=True)
def test_second_context_sees_status_change_without_reloading(browser, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    UserFactory(username="vic", role="viewer")
    incident = IncidentFactory(title="Orders API 502", severity="P1")

    actor_context, watcher_context = browser.new_context(), browser.new_context()
    actor = sign_in(actor_context.new_page(), "erin")
    dashboard = sign_in(watcher_context.new_page(), "vic")
    watcher = watcher_context.new_page()
    watcher.goto(f"{live_server.url}/incidents/{incident.pk}/")
    for page in (dashboard, watcher):
        mark_page(page)
    row = dashboard.locator(f"#incident-{incident.pk}")
    expect(row.locator(".status")).to_have_text("Detected")

    actor.goto(f"{live_server.url}/incidents/{incident.pk}/")
    actor.get_by_role("button", name="Acknowledge").click()
    expect(actor.locator("#incident-header .status")).to_have_text("Acknowledged")

    expect(row.locator(".status")).to_have_text("Acknowledged", timeout=10000)
    expect(row.locator(".cell-commander")).to_have_text("erin")
    expect(watcher.locator("#incident-header .status")).to_have_text("Acknowledged", timeout=10000)
    expect(watcher.locator("#timeline li.entry-status_changed")).to_contain_text("erin")
    for page in (dashboard, watcher):
        assert_not_reloaded(page)
    actor_context.close()
    watcher_context.close()


@pytest.mark.django_db(transaction=True)
def test_new_p1_appears_in_order_and_marks_the_title(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    IncidentFactory(title="Dark mode contrast", severity="P3")
    sign_in(page, "erin")
    mark_page(page)
    expect(page.locator("tr.incident-row")).to_have_count(1)

    IncidentFactory(title="Payments failing for EU cards", severity="P1")
    rows = page.locator("tr.incident-row")
    expect(rows).to_have_count(2, timeout=10000)
    expect(rows.first).to_contain_text("Payments failing for EU cards")  # placed above the P3
    expect(page.locator("#severity-counts .sev-count-p1 .sev-count-open")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) New P1 · "))
    assert_not_reloaded(page)


@pytest.mark.django_db(transaction=True)
def test_resolved_incident_leaves_the_dashboard(page, live_server, sign_in):
    erin = UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Cache hit ratio dropped", severity="P2")
    sign_in(page, "erin")
    mark_page(page)
    expect(page.locator(f"#incident-{incident.pk}")).to_have_count(1)
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(erin), note="cache warmed")
    expect(page.locator(f"#incident-{incident.pk}")).to_have_count(0, timeout=10000)
    expect(page.locator("#empty-state")).to_be_visible()
    assert_not_reloaded(page)


@pytest.mark.django_db(transaction=True)
def test_note_from_elsewhere_appears_on_the_timeline(page, live_server, sign_in):
    from incidents.services import note_add

    erin = UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Disk 91% on db-2", severity="P2")
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    mark_page(page)
    note_add(incident=incident, actor=Actor.for_user(erin), text="vacuum full running on events table")
    expect(page.locator("#timeline li.entry").first).to_contain_text("vacuum full running", timeout=10000)
    expect(page.locator("#timeline-count")).to_have_text("2")
    assert_not_reloaded(page)
