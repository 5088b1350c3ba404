"""A viewer watches: no action buttons anywhere, and the page says why."""

import pytest
from playwright.sync_api import expect

from tests.factories import IncidentFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_viewer_sees_no_action_buttons(page, live_server, sign_in):
    UserFactory(username="vic", role="viewer")
    incident = IncidentFactory(title="Checkout error rate above 5%", severity="P1")
    sign_in(page, "vic")

    expect(page.locator("tr.incident-row")).to_have_count(1)
    expect(page.locator("tr.incident-row .countdown")).to_be_visible()
    expect(page.locator("main form[method=post]")).to_have_count(0)
    expect(page.get_by_role("link", name="New incident")).to_have_count(0)
    expect(page.locator(".user-menu .role-badge")).to_have_text("viewer")

    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    expect(page.locator("#incident-header .status")).to_have_text("Detected")
    expect(page.locator("main form")).to_have_count(0)
    expect(page.locator("main button")).to_have_count(0)
    for name in ("Acknowledge", "Resolve", "Take command", "Add note"):
        expect(page.get_by_text(name, exact=True)).to_have_count(0)
    expect(page.locator(".readonly-note")).to_contain_text("Read-only")
