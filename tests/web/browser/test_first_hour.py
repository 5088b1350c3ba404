"""Defects a new user met in the first hour, checked in Chromium: the header's long values, the report panel
after resolving, the navigation on a phone, the alerts table and the empty lists."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import lifecycle, reports
from incidents.actors import Actor
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.browser.conftest import PHONE

LIVE = 15_000


@pytest.fixture
def late_ack(transactional_db):
    """An incident acknowledged long after its deadline, with several services: the longest header values."""
    erin = UserFactory(username="erin", role="engineer")
    services = [ServiceFactory(slug=slug) for slug in ("task-service", "notification-service", "api-gateway")]
    incident = IncidentFactory(
        title="Checkout 5xx", severity="P2", services=services, detected_at=timezone.now() - timedelta(hours=3)
    )
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(erin))  # SLA missed · acked after 3 h
    return incident


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1024, 1280, 1920])
def test_header_values_wrap_inside_their_cells(width, scheme, late_ack, new_context, live_server, sign_in):
    context = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = sign_in(context.new_page(), "erin")
    page.goto(f"{live_server.url}/incidents/{late_ack.pk}/")
    expect(page.locator(".fact-sla")).to_contain_text("SLA missed")
    facts = page.locator(".facts > .fact")
    boxes = [facts.nth(i).bounding_box() for i in range(facts.count())]
    sla = page.locator(".fact-sla .sla").bounding_box()
    cell = boxes[0]
    # The SLA text stays inside its cell, clear of "Commander" beside it.
    assert sla["x"] + sla["width"] <= cell["x"] + cell["width"] + 0.5
    same_row = [b for b in boxes[1:] if abs(b["y"] - cell["y"]) < 2]
    assert all(cell["x"] + cell["width"] <= b["x"] + 0.5 for b in same_row)
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.facts dd')].filter(dd => dd.scrollWidth > dd.clientWidth + 1).length"
    )
    assert overflowing == 0


@pytest.mark.django_db(transaction=True)
def test_resolving_as_fixed_never_says_no_report_while_the_timeline_says_drafted(page, live_server, sign_in):
    erin = UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Queue backlog", severity="P1")
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(erin))
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.get_by_text("Resolve…").click()
    page.get_by_label("How was it resolved?").fill("Scaled the consumers")
    page.get_by_role("button", name="Resolve", exact=True).click()
    panel = page.locator("#panel-report")
    # Straight after the resolve the panel says the draft is coming (or, if the worker was quick, links it).
    expect(panel).to_contain_text(re.compile("Drafting the report…|Open the report"))
    expect(panel).not_to_contain_text("No report")
    reports.report_draft_create(incident_id=incident.pk)  # what the worker does
    expect(page.locator("#timeline")).to_contain_text("Post-incident report drafted", timeout=LIVE)
    expect(panel.get_by_role("link", name="Open the report")).to_be_visible(timeout=LIVE)
    expect(panel).not_to_contain_text("No report")


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_navigation_is_a_menu_and_the_user_name_shows(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    context = new_context(viewport=PHONE)
    page = sign_in(context.new_page(), "erin")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.locator(".user-name")).to_have_text("erin")
    expect(page.locator(".user-name")).to_be_visible()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in ("Dashboard", "Incidents", "Services", "Reports", "Action items", "Insights", "Runbooks"):
        link = page.get_by_role("navigation", name="Main").get_by_role("link", name=name)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runbooks").click()
    page.wait_for_url("**/runbooks/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    wide = new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(wide, "erin")
    expect(wide.get_by_role("button", name="Menu")).to_be_hidden()
    expect(wide.get_by_role("navigation", name="Main").get_by_role("link", name="Runbooks")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_alerts_table_wraps_between_words_in_the_side_column(page, live_server, sign_in):
    from rest_framework.test import APIClient

    from incidents.integrations import integration_create
    from tests.incidents.intake import payloads

    UserFactory(username="erin", role="engineer")
    ServiceFactory(slug="task-service")
    _, token = integration_create(name="prod alertmanager", kind="alertmanager")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    incident_id = api.post("/api/v1/integrations/alertmanager/", payloads.firing(), format="json").json()["outcomes"][
        0
    ]["incident"]
    api.post("/api/v1/integrations/alertmanager/", payloads.resolved(), format="json")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident_id}/")
    panel = page.locator("#panel-alerts")
    expect(panel.locator(".alerts-summary")).to_contain_text("1 alert attached by prod alertmanager: 1 resolved")
    # Each word of the header and status cells sits on one line: no "Sta/tus", no "fir/ing".
    split_words = page.evaluate(
        """() => [...document.querySelectorAll('.alerts-table th, .alerts-table td:nth-child(2)')]
            .filter(cell => {
              const range = document.createRange();
              return cell.textContent.trim().split(/\\s+/).some(word => {
                const node = [...cell.querySelectorAll('*'), cell].flatMap(e => [...e.childNodes])
                  .find(n => n.nodeType === 3 && n.textContent.includes(word));
                if (!node) return false;
                const start = node.textContent.indexOf(word);
                range.setStart(node, start); range.setEnd(node, start + word.length);
                return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
              });
            }).map(cell => cell.textContent.trim())"""
    )
    assert split_words == []


@pytest.mark.django_db(transaction=True)
def test_empty_reports_and_action_items_show_no_empty_table(page, live_server, sign_in):
    UserFactory(username="mona", role="manager")
    sign_in(page, "mona")
    for path, text in [("/reports/?status=in_review", "Nothing awaits review."), ("/action-items/", "No open")]:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(".empty-state")).to_contain_text(text)
        expect(page.locator("main table")).to_have_count(0)
