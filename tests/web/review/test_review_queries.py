"""The Review pages' query counts do not grow with the number of reports, action items or incidents."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import reports
from incidents.actors import Actor
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.review.helpers import history_seed, item_for, report_for

pytestmark = pytest.mark.django_db


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def add_reports(engineer, count):
    for n in range(count):
        report = report_for(engineer, title=f"Report {n}")
        if n % 2 == 0:
            reports.report_submit(report=report, actor=Actor.for_user(engineer))


def add_items(engineer, count):
    services = [ServiceFactory(slug=f"svc-{n}") for n in range(3)]
    owners = [engineer, UserFactory(username="alice", role="engineer")]
    today = timezone.localdate()
    for n in range(count):
        incident = IncidentFactory(services=services[: 1 + n % 3])
        item_for(incident, engineer, title=f"Item {n}", owner=owners[n % 2], due_date=today + timedelta(days=n % 7 - 3))


@pytest.mark.parametrize("url", ["/reports/", "/reports/?status=draft"])
def test_queue_query_count_constant(manager_client, engineer, url):
    add_reports(engineer, 4)
    small, _ = queries_for(manager_client, url)
    add_reports(engineer, 30)
    large, html = queries_for(manager_client, url)
    assert large == small, f"{url}: {small} queries with 4 reports, {large} with 34"
    assert html.count('class="incident-row') == 17


@pytest.mark.parametrize("url", ["/action-items/", "/action-items/?mine=on", "/action-items/?overdue=on&service=svc-0"])
def test_board_query_count_constant(engineer_client, engineer, url):
    add_items(engineer, 5)
    small, _ = queries_for(engineer_client, url)
    add_items(engineer, 40)
    large, _ = queries_for(engineer_client, url)
    assert large == small, f"{url}: {small} queries with 5 items, {large} with 45"


@pytest.mark.parametrize("url", ["/insights/", "/insights/?period=90", "/insights/?period=90&service=checkout"])
def test_insights_query_count_constant(viewer_client, engineer, url):
    """Counted on a second read: the first one after a change rolls the changed days up again,
    in a number of statements that follows the number of days (at most four transactions)."""
    history_seed(engineer, weeks=2, per_week=2)
    viewer_client.get(url)
    small, _ = queries_for(viewer_client, url)
    history_seed(engineer, weeks=10, per_week=4)
    viewer_client.get(url)
    large, html = queries_for(viewer_client, url)
    assert large == small, f"{url}: {small} queries with 4 incidents, {large} with 44"


def test_report_page_query_count_constant(viewer_client, engineer):
    report = report_for(engineer)
    for n in range(3):
        item_for(report.incident, engineer, title=f"Item {n}", owner=engineer)
    small, _ = queries_for(viewer_client, f"/incidents/{report.incident_id}/report/")
    for n in range(30):
        item_for(report.incident, engineer, title=f"More {n}", owner=engineer)
    large, _ = queries_for(viewer_client, f"/incidents/{report.incident_id}/report/")
    assert large == small
