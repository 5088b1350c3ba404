"""Every Review form needs its CSRF token: without it nothing changes and the CSRF page explains."""

import pytest
from django.test import Client

from incidents.models import ActionItem, Report
from tests.factories import IncidentFactory
from tests.web.review.helpers import edit_data, item_for, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    return client


def test_report_forms_without_token_are_refused(strict, report, engineer):
    base = f"/incidents/{report.incident_id}/report"
    for path, data in [
        ("edit/", edit_data(report, summary="forged")),
        ("preview/", {"text": "x"}),
        ("submit/", {}),
    ]:
        response = strict.post(f"{base}/{path}", data)
        assert response.status_code == 403 and b"This form expired" in response.content, path
    stored = Report.objects.get(pk=report.pk)
    assert stored.summary != "forged" and stored.status == "draft"

    submitted(report, engineer)
    for path, data in [("approve/", {}), ("request-changes/", {"comment": "no"})]:
        assert strict.post(f"{base}/{path}", data).status_code == 403
    assert Report.objects.get(pk=report.pk).status == "in_review"


def test_action_item_forms_without_token_are_refused(strict, engineer):
    incident = IncidentFactory()
    item = item_for(incident, engineer)
    assert strict.post(f"/incidents/{incident.pk}/action-items/", {"title": "forged"}).status_code == 403
    assert strict.post(f"/action-items/{item.pk}/status/", {"status": "done"}).status_code == 403
    assert ActionItem.objects.count() == 1 and ActionItem.objects.get().status == "open"


def test_approve_with_token_works(strict, report, engineer):
    submitted(report, engineer)
    strict.get(f"/incidents/{report.incident_id}/report/")
    token = strict.cookies["csrftoken"].value
    response = strict.post(f"/incidents/{report.incident_id}/report/approve/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and Report.objects.get(pk=report.pk).status == "approved"


def test_preview_with_header_token_works(strict, report):
    strict.get(f"/incidents/{report.incident_id}/report/")
    token = strict.cookies["csrftoken"].value
    response = strict.post(f"/incidents/{report.incident_id}/report/preview/", {"text": "*hi*"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["html"] == "<p><em>hi</em></p>"
