"""Review steps from the report page: submit, approve (the incident becomes reviewed), request changes with a
comment; a step out of order answers 409 and says so."""

import pytest

from incidents.models import Report
from tests.web.review.helpers import submitted

pytestmark = pytest.mark.django_db


def test_approval_moves_the_incident_to_reviewed(manager_client, report, engineer):
    submitted(report, engineer)
    response = manager_client.post(f"/incidents/{report.incident_id}/report/approve/", follow=True)
    html = response.content.decode()
    assert f"Report on INC-{report.incident_id} approved. INC-{report.incident_id} is reviewed." in html
    assert "Approved</span>" in html and "Approve report" not in html
    stored = Report.objects.select_related("incident").get(pk=report.pk)
    assert stored.status == "approved" and stored.incident.status == "reviewed"
    incident_page = manager_client.get(f"/incidents/{report.incident_id}/").content.decode()
    assert "Reviewed: this incident's record is closed." in incident_page


def test_request_changes_shows_the_comment_and_reopens_editing(manager_client, engineer_client, report, engineer):
    submitted(report, engineer)
    response = manager_client.post(
        f"/incidents/{report.incident_id}/report/request-changes/",
        {"comment": "Say why the pool ran out, not that it did."},
        follow=True,
    )
    assert "sent back with changes requested" in response.content.decode()
    html = engineer_client.get(f"/incidents/{report.incident_id}/report/").content.decode()
    assert "Changes requested." in html and "Say why the pool ran out, not that it did." in html
    assert 'name="summary"' in html  # editable again
    panel = engineer_client.get(f"/incidents/{report.incident_id}/").content.decode()
    assert "Say why the pool ran out, not that it did." in panel


def test_request_changes_needs_a_comment(manager_client, report, engineer):
    submitted(report, engineer)
    response = manager_client.post(f"/incidents/{report.incident_id}/report/request-changes/", {"comment": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Say what should change" in html and '<details class="move request-changes" open>' in html
    assert Report.objects.get(pk=report.pk).status == "in_review"


def test_second_approval_gets_409_with_the_reason(manager_client, report, engineer):
    submitted(report, engineer)
    manager_client.post(f"/incidents/{report.incident_id}/report/approve/")
    response = manager_client.post(f"/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 409
    html = response.content.decode()
    assert "Cannot approve a report that is approved." in html
    assert "Nothing was changed by you; the page shows the current state." in html


def test_approving_a_draft_gets_409(manager_client, report):
    response = manager_client.post(f"/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 409 and "Cannot approve a report that is draft." in response.content.decode()
    assert Report.objects.get(pk=report.pk).status == "draft"


def test_submitting_twice_gets_409(engineer_client, report, engineer):
    submitted(report, engineer)
    response = engineer_client.post(f"/incidents/{report.incident_id}/report/submit/")
    assert response.status_code == 409 and "Cannot submit a report that is in review." in response.content.decode()


def test_approving_after_the_incident_was_reopened_gets_409(manager_client, report, engineer):
    from incidents import lifecycle
    from incidents.actors import Actor

    submitted(report, engineer)
    lifecycle.transition(report.incident, "acknowledged", actor=Actor.for_user(engineer), note="it came back")
    response = manager_client.post(f"/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == 409
    stored = Report.objects.select_related("incident").get(pk=report.pk)
    assert stored.status == "in_review" and stored.incident.status == "acknowledged"
