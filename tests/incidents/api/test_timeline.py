import pytest

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_note_is_added_with_its_author(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.post(
        f"/api/v1/incidents/{incident.pk}/timeline/", {"text": "pool at 96/100"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "note" and body["text"] == "pool at 96/100"
    assert body["actor"]["username"] == "erin" and body["actor"]["kind"] == "api"


@pytest.mark.parametrize("body", [{}, {"text": "  "}, {"text": "x" * 20001}])
def test_bad_notes(engineer_api, body):
    incident = IncidentFactory()
    response = engineer_api.post(f"/api/v1/incidents/{incident.pk}/timeline/", body, format="json")
    assert response.status_code == 400 and "text" in response.json()
    assert incident.timeline.count() == 1


def test_timeline_order_toggle(engineer_api, engineer):
    incident = IncidentFactory()
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    url = f"/api/v1/incidents/{incident.pk}/timeline/"
    oldest_first = [e["kind"] for e in engineer_api.get(url).json()["results"]]
    newest_first = [e["kind"] for e in engineer_api.get(url + "?order=desc").json()["results"]]
    assert oldest_first == ["created", "status_changed"]
    assert newest_first == list(reversed(oldest_first))
    assert engineer_api.get(url + "?order=sideways").status_code == 400


def test_timeline_query_count_is_constant(engineer_api, engineer, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    incident = IncidentFactory()
    url = f"/api/v1/incidents/{incident.pk}/timeline/"
    engineer_api.get(url)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert engineer_api.get(url).status_code == 200
        counts.append(len(ctx.captured_queries))
        for i in range(20):
            engineer_api.post(url, {"text": f"note {i}"}, format="json")
    assert counts[0] == counts[1]


def test_notes_on_unknown_incident_are_404(engineer_api):
    assert engineer_api.post("/api/v1/incidents/424242/timeline/", {"text": "x"}, format="json").status_code == 404
