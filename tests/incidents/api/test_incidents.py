from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, TimelineEntry, TimelineKind
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents/"


def test_file_an_incident(engineer_api, service):
    response = engineer_api.post(
        URL, {"title": "Checkout 5xx above 5%", "severity": "P1", "services": ["task-service"]}, format="json"
    )
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["status"] == "detected"
    assert body["reference"] == f"INC-{body['id']}"
    assert body["services"] == ["task-service"]
    assert body["ack_due_at"].endswith("Z") and body["detected_at"].endswith("Z")
    assert response["Location"] == f"/api/v1/incidents/{body['id']}/"
    incident = Incident.objects.get(pk=body["id"])
    assert incident.source == "api"
    assert (incident.ack_due_at - incident.detected_at) == timedelta(minutes=15)
    created = TimelineEntry.objects.get(incident=incident)
    assert created.kind == TimelineKind.CREATED and created.actor_name.startswith("erin")


def test_detected_at_in_the_past_is_kept(engineer_api):
    detected = (timezone.now() - timedelta(minutes=30)).replace(microsecond=0)
    response = engineer_api.post(
        URL, {"title": "Disk full", "severity": "P2", "detected_at": detected.isoformat()}, format="json"
    )
    assert response.status_code == 201
    incident = Incident.objects.get(pk=response.json()["id"])
    assert incident.detected_at == detected
    assert incident.ack_due_at == detected + timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "P1"}, "title"),
        ({"title": "   ", "severity": "P1"}, "title"),
        ({"title": "x" * 201, "severity": "P1"}, "title"),
        ({"title": "Outage", "severity": "P5"}, "severity"),
        ({"title": "Outage"}, "severity"),
        ({"title": "Outage", "severity": "P1", "services": ["no-such-service"]}, "services"),
        ({"title": "Outage", "severity": "P1", "detected_at": "yesterday"}, "detected_at"),
        ({"title": "Outage", "severity": "P1", "detected_at": "2999-01-01T00:00:00Z"}, "detected_at"),
        ({"title": "Outage", "severity": "P1", "description": "d" * 20001}, "description"),
    ],
)
def test_bad_input_gets_field_errors(engineer_api, body, field):
    response = engineer_api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Incident.objects.count() == 0


def test_malformed_json(engineer_api):
    response = engineer_api.post(URL, '{"title": "x", ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_wrong_content_type(engineer_api):
    response = engineer_api.post(URL, "title=x&severity=P1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "application/json" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_patch_edits_and_logs_each_change(engineer_api, engineer, manager, service):
    other = ServiceFactory(slug="api-gateway")
    incident = IncidentFactory(severity="P3", services=[service])
    response = engineer_api.patch(
        f"{URL}{incident.pk}/",
        {"severity": "P1", "commander": "mona", "services": ["api-gateway"], "title": "Gateway 502s"},
        format="json",
    )
    assert response.status_code == 200, response.data
    body = response.json()
    assert (body["severity"], body["commander"], body["services"], body["title"]) == (
        "P1",
        "mona",
        ["api-gateway"],
        "Gateway 502s",
    )
    kinds = {e.kind: e.data for e in TimelineEntry.objects.filter(incident=incident)}
    assert kinds[TimelineKind.SEVERITY_CHANGED]["old"] == "P3"
    assert kinds[TimelineKind.COMMANDER_CHANGED] == {"old": None, "new": "mona"}
    assert kinds[TimelineKind.SERVICES_CHANGED]["added"] == ["api-gateway"]
    assert kinds[TimelineKind.SERVICES_CHANGED]["removed"] == ["task-service"]
    assert kinds[TimelineKind.DETAILS_CHANGED]["title"]["new"] == "Gateway 502s"
    assert other.incidents.filter(pk=incident.pk).exists()


def test_patch_status_is_refused(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.patch(f"{URL}{incident.pk}/", {"status": "resolved"}, format="json")
    assert response.status_code == 400
    assert "transition" in response.json()["status"][0]
    assert Incident.objects.get(pk=incident.pk).status == "detected"


def test_patch_unknown_commander(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.patch(f"{URL}{incident.pk}/", {"commander": "nobody"}, format="json")
    assert response.status_code == 400 and "commander" in response.json()


def test_patch_nothing(engineer_api):
    incident = IncidentFactory()
    assert engineer_api.patch(f"{URL}{incident.pk}/", {}, format="json").status_code == 400


def test_put_is_not_allowed(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.put(f"{URL}{incident.pk}/", {"title": "x", "severity": "P1"}, format="json")
    assert response.status_code == 405
    assert "detail" in response.json()


def test_filters(engineer_api, engineer, service):
    from incidents import lifecycle
    from incidents.actors import Actor

    p1 = IncidentFactory(severity="P1", services=[service])
    p3 = IncidentFactory(severity="P3")
    done = IncidentFactory(severity="P1")
    lifecycle.transition(done, "resolved", actor=Actor.for_user(engineer), note="fixed")

    def ids(query):
        response = engineer_api.get(URL + query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("?severity=P1") == {p1.pk, done.pk}
    assert ids("?open=true") == {p1.pk, p3.pk}
    assert ids("?open=false") == {done.pk}
    assert ids("?status=resolved") == {done.pk}
    assert ids("?status=detected&severity=P3") == {p3.pk}
    assert ids("?service=task-service") == {p1.pk}
    assert engineer_api.get(URL + "?severity=P9").status_code == 400
    assert engineer_api.get(URL + "?service=ghost").status_code == 400
    assert engineer_api.get(URL + "?status=exploded").status_code == 400


def test_pagination(engineer_api):
    for _ in range(7):
        IncidentFactory()
    response = engineer_api.get(URL + "?page_size=3&page=2")
    body = response.json()
    assert body["count"] == 7 and len(body["results"]) == 3 and body["next"] and body["previous"]


def _list_queries(api, django_assert_max_num_queries, n):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = api.get(URL + "?page_size=100")
    assert response.status_code == 200
    assert len(response.json()["results"]) == n
    return len(ctx.captured_queries)


def test_list_query_count_is_constant(engineer_api, engineer, service, django_assert_max_num_queries):
    from incidents import lifecycle
    from incidents.actors import Actor

    def add(n):
        for _ in range(n):
            incident = IncidentFactory(services=[service])
            lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))

    add(3)
    engineer_api.get(URL)  # token's last_used_at is touched on first use only
    few = _list_queries(engineer_api, django_assert_max_num_queries, 3)
    add(40)
    many = _list_queries(engineer_api, django_assert_max_num_queries, 43)
    assert few == many
    assert many <= 3  # token with its user, roles, the page with its count


def test_detail_query_count(engineer_api, engineer, service, django_assert_num_queries):
    incident = IncidentFactory(services=[service])
    engineer_api.get(f"{URL}{incident.pk}/")
    with django_assert_num_queries(4):  # token, groups, incident with joins, services
        response = engineer_api.get(f"{URL}{incident.pk}/")
    body = response.json()
    assert body["allowed_transitions"] == ["acknowledged", "diagnosing", "mitigated", "resolved"]
    assert body["description"] == ""


def test_missing_incident_is_404_json(engineer_api):
    response = engineer_api.get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Incident matches the given query."}


def test_list_pages_by_cursor_in_the_list_order(engineer_api):
    incidents = [IncidentFactory() for _ in range(7)]
    first = engineer_api.get(URL + "?page_size=3").json()
    assert first["count"] == 7 and first["count_is_exact"] is True and first["previous"] is None
    seen = [row["id"] for row in first["results"]]
    page = first
    while page["next"]:
        assert "cursor=" in page["next"]
        page = engineer_api.get(page["next"]).json()
        assert page["count"] is None  # later pages never count
        seen += [row["id"] for row in page["results"]]
    expected = [i.pk for i in sorted(incidents, key=lambda i: (i.detected_at, i.pk), reverse=True)]
    assert seen == expected


def test_list_count_is_capped(engineer_api, settings, monkeypatch):
    from incidents.api import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 4)
    for _ in range(6):
        IncidentFactory()
    body = engineer_api.get(URL + "?page_size=2").json()
    assert body["count"] == 4 and body["count_is_exact"] is False and len(body["results"]) == 2


def test_bad_cursor_is_400(engineer_api):
    response = engineer_api.get(URL + "?cursor=not-a-cursor")
    assert response.status_code == 400
    assert "cursor" in response.json()
