"""The dashboard's compact rows: icons drawn by the stylesheet, tooltips filled in by the script,
one acknowledge form shared by every row (with and without JavaScript), labels at 375 px."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Incident
from tests.factories import IncidentFactory, UserFactory
from tests.web.browser.conftest import PHONE


@pytest.mark.django_db(transaction=True)
def test_row_icons_draw_and_tooltips_name_the_deadline(page, live_server, sign_in, board):
    UserFactory(username="erin", role="engineer")
    sign_in(page, "erin")
    row = page.locator(f"#incident-{board['p1'].pk}")
    icons = page.evaluate(
        """() => [...document.querySelectorAll('#incident-rows :is(.status, .sla:not(.sla-none), button)')].map(el => {
             const drawn = getComputedStyle(el, '::before');
             return [el.className || el.tagName, drawn.maskImage || drawn.webkitMaskImage, drawn.width, drawn.height];
           })"""
    )
    assert icons, "no rows"
    for name, image, width, height in icons:
        assert image.startswith('url("data:image/svg+xml,'), (name, image)
        assert 10 <= float(width.removesuffix("px")) <= 24 and 10 <= float(height.removesuffix("px")) <= 24, name
    box = row.locator(".status").bounding_box()
    label = row.locator(".status").evaluate("el => el.textContent")
    assert box and label == "Detected" and box["width"] > 20  # the icon takes room beside its label
    sla_title = re.compile(r"^Acknowledge within 15 min of detection, by \d{4}-\d\d-\d\d \d\d:\d\d UTC$")
    expect(row.locator(".sla")).to_have_attribute("title", sla_title)
    expect(row.locator("time")).to_have_attribute("title", re.compile(r"^Detected \d{4}-\d\d-\d\d \d\d:\d\d UTC$"))


@pytest.mark.django_db(transaction=True)
def test_acknowledge_by_keyboard_from_a_row(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    first = IncidentFactory(title="Webhook deliveries failing", severity="P1")
    second = IncidentFactory(title="Exports stuck", severity="P2")
    sign_in(page, "erin")
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name=f"Acknowledge INC-{second.pk}").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text(f"INC-{second.pk} acknowledged.")
    expect(page.locator(f"#incident-{second.pk} .status")).to_have_text("Acknowledged")
    expect(page.get_by_role("button", name=f"Acknowledge INC-{first.pk}")).to_be_enabled()
    assert page.evaluate("window.__notReloaded === true")
    assert Incident.objects.get(pk=first.pk).status == "detected"


@pytest.mark.django_db(transaction=True)
def test_acknowledge_from_a_row_without_javascript(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    other = IncidentFactory(title="Search slow", severity="P3")
    incident = IncidentFactory(title="Webhook deliveries failing", severity="P1")
    context = new_context(java_script_enabled=False)
    page = sign_in(context.new_page(), "erin")
    page.goto(f"{live_server.url}/?severity=P1")
    page.get_by_role("button", name=f"Acknowledge INC-{incident.pk}").click()
    page.wait_for_url(f"{live_server.url}/?severity=P1")
    expect(page.locator("#flash")).to_contain_text(f"INC-{incident.pk} acknowledged.")
    expect(page.locator(f"#incident-{incident.pk} .status")).to_have_text("Acknowledged")
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"
    assert Incident.objects.get(pk=other.pk).status == "detected"


@pytest.mark.django_db(transaction=True)
def test_phone_rows_label_commander_and_age(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    IncidentFactory(title="Checkout 502", severity="P1", detected_at=timezone.now() - timedelta(minutes=3))
    context = new_context(viewport=PHONE)
    page = sign_in(context.new_page(), "erin")
    labels = page.evaluate(
        """() => [...document.querySelectorAll('#incident-rows tr:first-child td')]
             .map(td => getComputedStyle(td, '::before').content)"""
    )
    assert labels[4] == '"Commander "' and labels[5] == '"Age "'
    assert all(label in ("none", "normal") for n, label in enumerate(labels) if n not in (4, 5))
    button = page.get_by_role("button", name=re.compile(r"^Acknowledge INC-"))
    assert button.bounding_box()["height"] >= 39  # a finger-sized target
