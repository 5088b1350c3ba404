"""A report is approved by a manager other than the one who submitted it; REPORT_SELF_APPROVAL=1 allows it."""

import pytest

from incidents.models import Report
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.web.review.helpers import submitted

pytestmark = pytest.mark.django_db


def test_the_submitting_manager_cannot_approve_in_the_api(report, manager):
    submitted(report, manager)
    response = client_for(manager).post(f"/api/v1/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You submitted this report: another manager approves it (a second pair of eyes). "
        "One-person teams set REPORT_SELF_APPROVAL=1.",
        "status": "in_review",
    }
    stored = Report.objects.select_related("incident").get(pk=report.pk)
    assert stored.status == "in_review" and stored.incident.status == "resolved"

    other = UserFactory(username="max", role="manager")
    assert client_for(other).post(f"/api/v1/incidents/{report.incident_id}/report/approve/").status_code == 200
    assert Report.objects.get(pk=report.pk).approved_by == other


def test_the_submitting_manager_is_told_why_on_the_page(manager_client, report, manager):
    submitted(report, manager)
    response = manager_client.post(f"/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 403
    assert "another manager approves it" in response.content.decode()
    assert Report.objects.get(pk=report.pk).status == "in_review"


def test_self_approval_when_the_setting_allows_it(report, manager, settings):
    settings.REPORT_SELF_APPROVAL = True
    submitted(report, manager)
    response = client_for(manager).post(f"/api/v1/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 200 and response.json()["status"] == "approved"
