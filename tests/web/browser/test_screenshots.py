"""Screenshots of the dashboard and the incident page, desktop and 375 px, kept under test-artifacts/."""

import pytest

from tests.factories import UserFactory
from tests.web.browser.conftest import DESKTOP, PHONE


def assert_no_sideways_scroll(page, viewport):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} scrolls sideways at {viewport['width']} px ({width} px wide)"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_dashboard_and_incident_page_screenshots(name, viewport, board, new_context, live_server, sign_in, artifacts):
    UserFactory(username="erin", role="engineer")
    context = new_context(viewport=viewport)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, "erin")

    rows = page.locator("tr.incident-row")
    assert rows.count() == 4
    # Stylesheet and scripts are served and applied: the countdown ticks in mm:ss.
    assert page.locator("link[rel=stylesheet]").evaluate("l => l.sheet && l.sheet.cssRules.length") > 50
    page.wait_for_function("document.querySelector('.countdown').textContent.includes(':')")
    page.screenshot(path=str(artifacts / f"dashboard-{name}.png"), full_page=True)
    assert_no_sideways_scroll(page, viewport)

    page.goto(f"{live_server.url}/incidents/{board['p1'].pk}/")
    page.wait_for_function("document.querySelector('.countdown').textContent.includes(':')")
    page.screenshot(path=str(artifacts / f"incident-{name}.png"), full_page=True)
    assert_no_sideways_scroll(page, viewport)
    assert errors == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_other_pages_fit_and_are_kept_as_screenshots(
    name, viewport, board, new_context, live_server, sign_in, artifacts
):
    UserFactory(username="mona", role="manager")
    context = new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=str(artifacts / f"login-{name}.png"), full_page=True)
    assert_no_sideways_scroll(page, viewport)
    sign_in(page, "mona")
    for slug, path in [
        ("history", "/incidents/"),
        ("services", "/services/"),
        ("reviews", "/reports/?status=in_review"),
        ("new-incident", "/incidents/new/"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(artifacts / f"{slug}-{name}.png"), full_page=True)
        assert_no_sideways_scroll(page, viewport)

    page.get_by_role("button", name="File incident").click()  # empty: errors inline
    page.get_by_text("This field is required.").first.wait_for()
    page.screenshot(path=str(artifacts / f"new-incident-errors-{name}.png"), full_page=True)

    page.goto(f"{live_server.url}/incidents/{board['p1'].pk}/")
    page.get_by_text("Resolve…").click()
    page.get_by_role("button", name="Resolve", exact=True).click()
    page.get_by_text("Say how it was resolved.").wait_for()
    page.screenshot(path=str(artifacts / f"incident-resolve-errors-{name}.png"), full_page=True)
    assert_no_sideways_scroll(page, viewport)
