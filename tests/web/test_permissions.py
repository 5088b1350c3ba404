"""Who may open which page and do what: parametrized over every role and anonymous."""

import pytest

from incidents.models import Incident, Status
from tests.factories import IncidentFactory

READ_PAGES = ["/", "/incidents/", "/incidents/{id}/", "/services/", "/reports/", "/reports/?status=in_review"]
READ_STATUS = {"anonymous": 302, "outsider": 403, "viewer": 200, "engineer": 200, "manager": 200}
ACT_STATUS = {"anonymous": 302, "outsider": 403, "viewer": 403, "engineer": 200, "manager": 200}
ROLES = list(READ_STATUS)


@pytest.fixture
def incident_id(db):
    return IncidentFactory(severity="P1").pk


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", READ_PAGES)
def test_read_pages_per_role(role, page, incident_id, role_user, signed_in):
    response = signed_in(role_user(role)).get(page.format(id=incident_id))
    assert response.status_code == READ_STATUS[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    if role == "outsider":
        assert b"no Orion Ops role" in response.content
        assert b"<nav" in response.content or b"403" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", ["/dashboard/changes/?since=0", "/incidents/{id}/changes/?since=0"])
def test_live_endpoints_per_role(role, url, incident_id, role_user, signed_in):
    response = signed_in(role_user(role)).get(url.format(id=incident_id))
    assert response.status_code == READ_STATUS[role]
    if response.status_code == 200:
        assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_new_incident_form_per_role(role, role_user, signed_in):
    assert signed_in(role_user(role)).get("/incidents/new/").status_code == ACT_STATUS[role]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_acknowledge_per_role(role, incident_id, role_user, signed_in):
    response = signed_in(role_user(role)).post(
        f"/incidents/{incident_id}/transition/", {"to": "acknowledged", "expected_status": "detected"}
    )
    allowed = ACT_STATUS[role] == 200
    assert response.status_code == (302 if allowed else ACT_STATUS[role])
    expected = Status.ACKNOWLEDGED if allowed else Status.DETECTED
    assert Incident.objects.get(pk=incident_id).status == expected


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "outsider", "anonymous"])
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("severity", {"severity": "P0"}),
        ("commander", {"take": "on"}),
        ("notes", {"text": "looking"}),
    ],
)
def test_other_actions_refused_without_engineer_role(role, path, data, incident_id, role_user, signed_in):
    before = Incident.objects.get(pk=incident_id)
    response = signed_in(role_user(role)).post(f"/incidents/{incident_id}/{path}/", data)
    assert response.status_code == ACT_STATUS[role]
    after = Incident.objects.get(pk=incident_id)
    assert (after.severity, after.commander_id, after.timeline.count()) == (
        before.severity,
        before.commander_id,
        before.timeline.count(),
    )


@pytest.mark.django_db
def test_viewer_sees_no_action_controls(viewer_client, incident_id):
    html = viewer_client.get(f"/incidents/{incident_id}/").content.decode()
    assert "/transition/" not in html and "/notes/" not in html and "/severity/" not in html
    assert "Read-only" in html
    dashboard = viewer_client.get("/").content.decode()
    assert "/transition/" not in dashboard and "New incident" not in dashboard


@pytest.mark.django_db
def test_engineer_sees_action_controls(engineer_client, incident_id):
    html = engineer_client.get(f"/incidents/{incident_id}/").content.decode()
    assert "Acknowledge" in html and "/notes/" in html and "Take command" in html
    assert "/transition/" in engineer_client.get("/").content.decode()


@pytest.mark.django_db
def test_user_menu_shows_role(manager_client):
    html = manager_client.get("/").content.decode()
    assert "mona" in html and 'class="role-badge role-manager">manager<' in html
