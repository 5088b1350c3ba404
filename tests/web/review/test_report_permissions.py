"""Who may read, edit and review a report in the browser: every role and anonymous."""

import pytest

from incidents.models import Report
from tests.web.review.helpers import edit_data, submitted

ROLES = ["anonymous", "outsider", "viewer", "engineer", "manager"]
# anonymous → login redirect (302 too); the others' 302 is the redirect back to the report after success.
WRITERS = {"engineer", "manager"}
READ = {"anonymous": 302, "outsider": 403, "viewer": 200, "engineer": 200, "manager": 200}
WRITE = {"anonymous": 302, "outsider": 403, "viewer": 403, "engineer": 302, "manager": 302}
REVIEW = {"anonymous": 302, "outsider": 403, "viewer": 403, "engineer": 403, "manager": 302}

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["report/", "report/print/"])
def test_reading_a_report_per_role(role, path, report, role_user, signed_in):
    response = signed_in(role_user(role)).get(f"/incidents/{report.incident_id}/{path}")
    assert response.status_code == READ[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ROLES)
def test_saving_a_report_per_role(role, report, role_user, signed_in):
    response = signed_in(role_user(role)).post(
        f"/incidents/{report.incident_id}/report/edit/", edit_data(report, summary="Changed by " + role)
    )
    assert response.status_code == WRITE[role]
    stored = Report.objects.get(pk=report.pk)
    assert (stored.summary == "Changed by " + role) is (role in WRITERS)


@pytest.mark.parametrize("role", ROLES)
def test_preview_per_role(role, report, role_user, signed_in):
    response = signed_in(role_user(role)).post(f"/incidents/{report.incident_id}/report/preview/", {"text": "**x**"})
    assert response.status_code == (200 if role in WRITERS else WRITE[role])


@pytest.mark.parametrize("role", ROLES)
def test_submitting_per_role(role, report, role_user, signed_in):
    response = signed_in(role_user(role)).post(f"/incidents/{report.incident_id}/report/submit/")
    assert response.status_code == WRITE[role]
    expected = "in_review" if role in WRITERS else "draft"
    assert Report.objects.get(pk=report.pk).status == expected


@pytest.mark.parametrize("role", ROLES)
def test_approving_per_role(role, report, engineer, role_user, signed_in):
    submitted(report, engineer)
    response = signed_in(role_user(role)).post(f"/incidents/{report.incident_id}/report/approve/")
    assert response.status_code == REVIEW[role]
    stored = Report.objects.select_related("incident").get(pk=report.pk)
    approved = role == "manager"
    assert stored.status == ("approved" if approved else "in_review")
    assert stored.incident.status == ("reviewed" if approved else "resolved")


@pytest.mark.parametrize("role", ROLES)
def test_requesting_changes_per_role(role, report, engineer, role_user, signed_in):
    submitted(report, engineer)
    response = signed_in(role_user(role)).post(
        f"/incidents/{report.incident_id}/report/request-changes/", {"comment": "Name the cause, not the symptom."}
    )
    assert response.status_code == REVIEW[role]
    expected = "changes_requested" if role == "manager" else "in_review"
    assert Report.objects.get(pk=report.pk).status == expected


@pytest.mark.parametrize("role", ["anonymous", "outsider", "viewer"])
def test_drafting_refused_without_engineer_role(role, engineer, role_user, signed_in):
    from tests.web.review.helpers import resolved_incident

    incident = resolved_incident(engineer, severity="P3")
    response = signed_in(role_user(role)).post(f"/incidents/{incident.pk}/report/draft/")
    assert response.status_code == WRITE[role]
    assert not Report.objects.filter(incident=incident).exists()
