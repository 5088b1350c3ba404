"""Desktop notifications are opt-in: after the person turns them on (and the browser grants permission),
a new P1 arriving on the live dashboard becomes a notification."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.factories import IncidentFactory, UserFactory

LIVE = 15_000  # ms: the dashboard polls every few seconds


@pytest.mark.django_db(transaction=True)
def test_opt_in_then_a_new_p1_notifies(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    context = new_context(permissions=["notifications"])
    page = sign_in(context.new_page(), "erin")
    toggle = page.locator("#desktop-toggle")
    expect(toggle).to_have_text("Desktop notifications off")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    IncidentFactory(title="Before opting in", severity="P1")
    expect(page).to_have_title(re.compile(r"^\(1\) New P1"), timeout=LIVE)
    assert page.evaluate("window.OrionDesktop.shown.length") == 0  # not opted in: nothing shown

    toggle.click()
    expect(toggle).to_have_text("Desktop notifications on")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("localStorage.getItem('orion.desktop')") == "on"

    IncidentFactory(title="Checkout down", severity="P1")
    wait_for(
        lambda: page.evaluate("window.OrionDesktop.shown.length") == 1, timeout=LIVE / 1000, message="a notification"
    )
    assert page.evaluate("window.OrionDesktop.shown[0].title") == "New P1"

    page.reload()
    expect(page.locator("#desktop-toggle")).to_have_text("Desktop notifications on")  # remembered
    page.locator("#desktop-toggle").click()
    expect(page.locator("#desktop-toggle")).to_have_text("Desktop notifications off")
