"""Screenshots of the Review pages (report editor, queue, action items board, insights, printable report),
desktop and 375 px, under test-artifacts/; none scrolls sideways and none logs a script error."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import reports
from incidents.actors import Actor
from incidents.models import Report
from tests.factories import UserFactory
from tests.web.browser.conftest import DESKTOP, PHONE
from tests.web.browser.test_screenshots import assert_no_sideways_scroll
from tests.web.review.helpers import history_seed, item_for, report_for


@pytest.fixture
def review_data(transactional_db):
    erin = UserFactory(username="erin", role="engineer")
    UserFactory(username="mona", role="manager")
    history_seed(erin, weeks=9, per_week=3)
    report = report_for(erin, title="Task DB connection pool exhausted")
    Report.objects.filter(pk=report.pk).update(
        root_cause="The pool (**10** connections per pod) was sized for 2 replicas; the HPA scaled to 5.\n\n"
        "- `postgres.connection_saturation`: 96 of 100 connections in use"
    )
    report.refresh_from_db()
    today = timezone.localdate()
    item_for(report.incident, erin, owner=erin, due_date=today - timedelta(days=3), priority="high", type="detective",
             title="Alert when pool saturation stays above 80 % for 5 min")  # fmt: skip
    item_for(report.incident, erin, owner=erin, due_date=today + timedelta(days=10), type="preventive",
             title="Size the pool from replicas × per-pod connections")  # fmt: skip
    done = item_for(report.incident, erin, title="Add the runbook link to the alert")
    from incidents.action_items import action_item_update

    action_item_update(item=done, actor=Actor.for_user(erin), status="done")
    second = report_for(erin, title="Checkout 5xx after deploy 2026.11.3", severity="P0")
    reports.report_submit(report=second, actor=Actor.for_user(erin))
    return {"report": report, "second": second}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_review_pages_screenshots(name, viewport, review_data, new_context, live_server, sign_in, artifacts):
    context = new_context(viewport=viewport)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, "mona")
    incident_id = review_data["report"].incident_id
    for slug, path in [
        ("report-edit", f"/incidents/{incident_id}/report/"),
        ("report-queue", "/reports/?status=in_review"),
        ("action-items", "/action-items/"),
        ("insights", "/insights/?period=90"),
        ("report-print", f"/incidents/{incident_id}/report/print/"),
        ("incident-review-panels", f"/incidents/{incident_id}/"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").count() == 1, path
        page.screenshot(path=str(artifacts / f"{slug}-{name}.png"), full_page=True)
        assert_no_sideways_scroll(page, viewport)
    assert errors == []
