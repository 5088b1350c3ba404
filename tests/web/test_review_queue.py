"""/reports/?status=in_review: fixed P0–P2 incidents awaiting review, and the page says that is what it lists."""

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory


def resolve(incident, user, resolution="fixed", **kwargs):
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(user), note="done", resolution=resolution, **kwargs)
    return incident


@pytest.mark.django_db
def test_queue_lists_fixed_incidents_of_reportable_severity(manager_client, engineer):
    fixed_p1 = resolve(IncidentFactory(severity="P1", title="fixed P1"), engineer)
    resolve(IncidentFactory(severity="P3", title="fixed P3"), engineer)
    resolve(IncidentFactory(severity="P1", title="false alarm P1"), engineer, resolution="false_alarm")
    IncidentFactory(severity="P0", title="still open")
    reviewed = resolve(IncidentFactory(severity="P2", title="already reviewed"), engineer)
    lifecycle.transition(reviewed, "reviewed", actor=Actor.for_user(engineer), via_report_approval=True)

    html = manager_client.get("/reports/?status=in_review").content.decode()
    assert f'href="/incidents/{fixed_p1.pk}/"' in html
    for absent in ("fixed P3", "false alarm P1", "still open", "already reviewed"):
        assert absent not in html
    assert "Post-incident reports are not written in Orion Ops yet" in html
    assert "P0, P1, P2" in html and "you will approve" in html


@pytest.mark.django_db
def test_unknown_queue_status_is_explained(viewer_client):
    html = viewer_client.get("/reports/?status=approved").content.decode()
    assert "“approved” is not a queue yet" in html and "a manager will approve" in html


@pytest.mark.django_db
def test_empty_queue(manager_client):
    assert "Nothing awaits review." in manager_client.get("/reports/").content.decode()
