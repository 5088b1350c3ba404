"""/reports/?status=…: post-incident reports by review status, in review (longest waiting first) by default."""

from datetime import timedelta

import pytest

from incidents import reports
from incidents.actors import Actor
from incidents.models import Report
from tests.web.review.helpers import report_for, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def four_reports(engineer, manager):
    draft = report_for(engineer, title="Draft: cache stampede")
    waiting_long = submitted(report_for(engineer, title="In review: pool exhausted"), engineer)
    waiting_short = submitted(report_for(engineer, title="In review: disk full"), engineer)
    Report.objects.filter(pk=waiting_long.pk).update(submitted_at=waiting_short.submitted_at - timedelta(hours=3))
    sent_back = submitted(report_for(engineer, title="Sent back: DNS"), engineer)
    reports.report_request_changes(report=sent_back, actor=Actor.for_user(manager), comment="more detail")
    approved = submitted(report_for(engineer, title="Approved: TLS expiry"), engineer)
    reports.report_approve(report=approved, actor=Actor.for_user(manager))
    return {"draft": draft, "long": waiting_long, "short": waiting_short, "sent_back": sent_back, "approved": approved}


def test_queue_lists_reports_in_review_longest_waiting_first(manager_client, four_reports):
    html = manager_client.get("/reports/").content.decode()
    assert html.index("In review: pool exhausted") < html.index("In review: disk full")
    for absent in ("Draft: cache stampede", "Sent back: DNS", "Approved: TLS expiry"):
        assert absent not in html
    assert f'href="/incidents/{four_reports["long"].incident_id}/report/"' in html
    assert "Open one to approve it or request changes" in html
    assert 'aria-current="page">Awaiting review <span class="count">2</span>' in html


@pytest.mark.parametrize(
    ("status", "shown"),
    [("draft", "Draft: cache stampede"), ("changes_requested", "Sent back: DNS"), ("approved", "Approved: TLS expiry")],
)
def test_queue_filters_by_status(viewer_client, four_reports, status, shown):
    html = viewer_client.get(f"/reports/?status={status}").content.decode()
    assert shown in html
    assert "In review: pool exhausted" not in html
    assert "A manager approves them" not in html


def test_viewer_reads_the_queue_without_manager_wording(viewer_client, four_reports):
    html = viewer_client.get("/reports/?status=in_review").content.decode()
    assert "In review: pool exhausted" in html and "A manager approves them" in html


def test_unknown_status_is_explained(viewer_client, four_reports):
    html = viewer_client.get("/reports/?status=bogus").content.decode()
    assert "“bogus” is not a report status" in html and "In review: pool exhausted" in html


def test_empty_queue(manager_client):
    html = manager_client.get("/reports/").content.decode()
    assert "Nothing awaits review." in html and "P0, P1, P2" in html
