"""Every page of the seeded demo at 1280 px and 375 px, kept as screenshots under test-artifacts/.

Each page must fit its width (no sideways scroll) and log no script error. Look at the pictures after a
change to the pages: a test cannot see that something looks wrong.
"""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import Incident, Report, Source
from incidents.paging.models import Delivery

WIDTHS = {"1280px": {"width": 1280, "height": 900}, "375px": {"width": 375, "height": 812}}


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    password = re.search(r"Demo login: \S+ / (\S+)", out.getvalue()).group(1)
    pool = Incident.objects.get(severity="P0", status="diagnosing")
    crash = Incident.objects.get(source=Source.EVENTS)
    approved = Report.objects.filter(status="approved").order_by("-approved_at").first()
    # Pages that could not be sent yet, as when no mail server answers: the longest lines of the Paging panel.
    Delivery.objects.filter(incident=pool).update(
        status="retrying", last_error="SMTP: ConnectionRefusedError: [Errno 111] Connection refused by mail.example.com"
    )
    return {"password": password, "pool": pool.pk, "crash": crash.pk, "reviewed": approved.incident_id}


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


@pytest.mark.parametrize("name", list(WIDTHS))
def test_every_page_fits_and_is_kept_as_a_screenshot(name, demo, new_context, live_server, artifacts):
    viewport = WIDTHS[name]
    base = live_server.url
    pages = [
        ("dashboard", "/"),
        ("incident-pool", f"/incidents/{demo['pool']}/"),
        ("incident-crashloop", f"/incidents/{demo['crash']}/"),
        ("incident-reviewed", f"/incidents/{demo['reviewed']}/"),
        ("report", f"/incidents/{demo['reviewed']}/report/"),
        ("history", "/incidents/"),
        ("new-incident", "/incidents/new/"),
        ("services", "/services/"),
        ("reports-in-review", "/reports/?status=in_review"),
        ("reports-approved", "/reports/?status=approved"),
        ("action-items", "/action-items/"),
        ("insights", "/insights/"),
        ("insights-90-days", "/insights/?period=90"),
        ("runbooks", "/runbooks/"),
        ("runbook", "/runbooks/db-connection-pool-exhausted/"),
        ("intake", "/intake/"),
        ("deliveries", "/deliveries/"),
        ("profile", "/profile/"),
        ("not-found", "/no/such/page/"),
    ]
    context = new_context(viewport=viewport)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.goto(f"{base}/accounts/login/")
    page.screenshot(path=str(artifacts / f"page-login-{name}.png"), full_page=True)
    _sign_in(page, base, "morgan", demo["password"])
    wide = []
    for slug, path in pages:
        response = page.goto(f"{base}{path}")
        assert response.status == (404 if slug == "not-found" else 200), path
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts / f"page-{slug}-{name}.png"), full_page=True)
        if page.evaluate("document.documentElement.scrollWidth") > viewport["width"]:
            wide.append(path)
    # The API docs (Swagger UI) and the 403 page, as a viewer sees them.
    page.goto(f"{base}/api/v1/docs/")
    page.locator(".swagger-ui .info").first.wait_for()
    page.screenshot(path=str(artifacts / f"page-api-docs-{name}.png"), full_page=False)
    page.context.clear_cookies()
    _sign_in(page, base, "vera", demo["password"])
    assert page.goto(f"{base}/incidents/new/").status == 403
    page.screenshot(path=str(artifacts / f"page-forbidden-{name}.png"), full_page=True)
    assert wide == [], f"scroll sideways at {viewport['width']} px"
    assert [e for e in errors if "403" not in e and "404" not in e] == []
