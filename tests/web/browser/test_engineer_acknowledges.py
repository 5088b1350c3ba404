"""An engineer signs in, sees a P1 at the top with a ticking countdown, acknowledges it, and the timeline shows it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Incident, TimelineEntry
from tests.factories import IncidentFactory, ServiceFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_engineer_acknowledges_p1_from_its_page(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    checkout = ServiceFactory(slug="checkout")
    IncidentFactory(title="Search suggestions slow", severity="P3")
    IncidentFactory(title="Receipts e-mail delayed", severity="P2")
    p1 = IncidentFactory(
        title="Checkout error rate above 5%",
        severity="P1",
        services=[checkout],
        detected_at=timezone.now() - timedelta(minutes=2),
    )

    sign_in(page, "erin")
    top = page.locator("tr.incident-row").first
    expect(top).to_have_attribute("data-severity", "P1")
    expect(top).to_contain_text("Checkout error rate above 5%")
    countdown = top.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^1[0-3]:\d\d$"))  # 15 min target, detected 2 min ago
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first, timeout=3000)  # it ticks

    top.get_by_role("link").click()
    page.wait_for_url(f"**/incidents/{p1.pk}/")
    expect(page.locator("#incident-header .status")).to_have_text("Detected")
    page.get_by_role("button", name="Acknowledge").click()

    expect(page.locator("#flash")).to_contain_text(f"INC-{p1.pk} acknowledged.")
    expect(page.locator("#incident-header .status")).to_have_text("Acknowledged")
    expect(page.locator("#incident-header")).to_contain_text("erin")  # commander now
    entry = page.locator("#timeline li.entry-status_changed").first
    expect(entry).to_contain_text("Acknowledged (was detected)")
    expect(entry).to_contain_text("erin")
    expect(page.locator("#timeline li.entry").first).to_have_class(re.compile("entry-status_changed"))  # newest first
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    stored = Incident.objects.get(pk=p1.pk)
    assert stored.status == "acknowledged" and stored.acknowledged_by.username == "erin"
    assert TimelineEntry.objects.filter(incident=p1, kind="status_changed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_engineer_acknowledges_from_the_dashboard_row(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Webhook deliveries failing", severity="P1")
    sign_in(page, "erin")
    page.evaluate("window.__notReloaded = true")
    row = page.locator(f"#incident-{incident.pk}")
    row.get_by_role("button", name=f"Acknowledge INC-{incident.pk}").click()
    expect(page.locator("#flash")).to_contain_text(f"INC-{incident.pk} acknowledged.")
    expect(row.locator(".status")).to_have_text("Acknowledged")
    expect(row.locator("td").nth(4)).to_have_text("erin")  # the commander column
    expect(row.get_by_role("button")).to_have_count(0)
    assert page.evaluate("window.__notReloaded === true")


@pytest.mark.django_db(transaction=True)
def test_resolving_as_duplicate_without_original_keeps_what_was_typed(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Second alert for the same outage", severity="P2")
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.get_by_text("Resolve…").click()
    expect(page.get_by_label("Duplicate of")).to_be_hidden()  # only asked for duplicates
    page.get_by_label("Resolution").select_option("duplicate")
    expect(page.get_by_label("Duplicate of")).to_be_visible()
    page.get_by_label("How was it resolved?").fill("same as the gateway outage")
    page.get_by_role("button", name="Resolve", exact=True).click()

    expect(page.get_by_text("Name the incident this one duplicates.")).to_be_visible()
    expect(page.get_by_label("How was it resolved?")).to_have_value("same as the gateway outage")
    expect(page.get_by_label("Resolution")).to_have_value("duplicate")
    assert Incident.objects.get(pk=incident.pk).status == "detected"
