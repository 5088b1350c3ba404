"""Paging's API: on-call, policies (managers edit), deliveries with re-send, status updates, the iCal feed."""

import pytest

from incidents.paging.calendar import feed_token_create
from incidents.paging.models import Delivery, EscalationPolicy, IncidentEscalation, Stakeholder
from tests.factories import IncidentFactory, ServiceFactory
from tests.paging.helpers import override, person, policy, schedule, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def primary():
    for name in ("alice", "bob"):
        person(name, ("email", f"{name}@example.com"))
    return schedule(participants=["alice", "bob"], handoff=utc(2026, 1, 5, 9, 0))


def test_oncall_at_a_time(viewer_api, primary):
    got = viewer_api.get(f"/api/v1/schedules/{primary.pk}/oncall/", {"at": "2026-01-06T12:00:00Z"})
    assert got.status_code == 200
    assert got.json() == {
        "user": "alice",
        "users": ["alice"],
        "until": "2026-01-12T09:00:00Z",
        "next": ["bob"],
        "at": "2026-01-06T12:00:00Z",
    }


@pytest.mark.parametrize("at", ["tomorrow", "2026-01-06T12:00:00", "2026-01-06T12:00:00+20:00"])
def test_oncall_with_a_bad_time_is_a_400(viewer_api, primary, at):
    got = viewer_api.get(f"/api/v1/schedules/{primary.pk}/oncall/", {"at": at})
    assert got.status_code == 400
    assert "at" in got.json()


def test_schedule_list_shows_rotations_and_overrides(viewer_api, primary, django_assert_max_num_queries):
    override(primary, person("carol"), utc(2026, 2, 1), utc(2026, 2, 2))
    with django_assert_max_num_queries(8):
        got = viewer_api.get("/api/v1/schedules/")
    (row,) = got.json()["results"]
    assert row["rotations"][0]["participants"] == ["alice", "bob"]
    assert row["overrides"] == [{"user": "carol", "start": "2026-02-01T00:00:00Z", "end": "2026-02-02T00:00:00Z"}]


def test_a_manager_creates_a_policy_and_an_engineer_cannot(manager_api, engineer_api, primary):
    body = {
        "slug": "payments",
        "repeat": 1,
        "services": [ServiceFactory(slug="payments").slug],
        "steps": [{"schedule": "primary", "wait_minutes": 5}, {"users": ["bob"]}],
    }
    assert engineer_api.post("/api/v1/escalation-policies/", body, format="json").status_code == 403
    got = manager_api.post("/api/v1/escalation-policies/", body, format="json")
    assert got.status_code == 201, got.json()
    assert got.json()["steps"] == [
        {"schedule": "primary", "users": [], "channel": None, "wait_minutes": 5},
        {"schedule": None, "users": ["bob"], "channel": None, "wait_minutes": None},
    ]


def test_bad_policies_are_400s_with_field_errors(manager_api, primary):
    policy("default", {"users": [person("dave")]})
    got = manager_api.post(
        "/api/v1/escalation-policies/",
        {"slug": "x", "is_default": True, "steps": [{}, {"users": ["nobody"]}, {"schedule": "nope"}]},
        format="json",
    )
    assert got.status_code == 400
    errors = got.json()
    assert "is_default" in errors
    assert errors["steps"][0]["non_field_errors"] == ["A step notifies a schedule, users or a channel."]
    assert "users" in errors["steps"][1] and "schedule" in errors["steps"][2]
    assert (
        manager_api.post("/api/v1/escalation-policies/", {"slug": "y", "steps": []}, format="json").status_code == 400
    )


def test_editing_a_policy_leaves_running_escalations_as_they_were(manager_api, primary):
    p = policy("default", {"schedule": primary})
    incident = IncidentFactory(severity="P1")
    got = manager_api.patch(f"/api/v1/escalation-policies/{p.pk}/", {"steps": [{"users": ["bob"]}]}, format="json")
    assert got.status_code == 200
    assert EscalationPolicy.objects.get().steps.get().users.get().username == "bob"
    assert IncidentEscalation.objects.get(incident=incident).plan["steps"][0]["schedule"] == "primary"


def test_deliveries_list_hides_urls_and_resend_needs_an_engineer(
    viewer_api, engineer_api, primary, django_assert_max_num_queries
):
    person("erin-hook", ("webhook", "https://hooks.example.com/T0/secret-path"))
    policy("default", {"users": [person("carol", ("webhook", "https://hooks.example.com/T0/secret-path"))]})
    incident = IncidentFactory(severity="P1")
    with django_assert_max_num_queries(6):
        got = viewer_api.get("/api/v1/deliveries/", {"incident": incident.pk})
    assert got.status_code == 200
    (row,) = got.json()["results"]
    assert row["recipient"] == "carol" and row["status"] == "pending"
    assert row["contacts"] == [{"kind": "webhook", "to": "hooks.example.com"}]
    assert "secret-path" not in got.content.decode()
    assert viewer_api.post(f"/api/v1/deliveries/{row['id']}/resend/").status_code == 403
    resent = engineer_api.post(f"/api/v1/deliveries/{row['id']}/resend/")
    assert resent.status_code == 202
    assert Delivery.objects.filter(incident=incident).count() == 2
    assert viewer_api.get("/api/v1/deliveries/", {"status": "lost"}).status_code == 400


def test_status_update_reaches_stakeholders(engineer_api, viewer_api):
    svc = ServiceFactory(slug="task-service")
    Stakeholder.objects.create(service=svc, user=person("dave", ("email", "dave@example.com")))
    incident = IncidentFactory(severity="P2", services=[svc])
    url = f"/api/v1/incidents/{incident.pk}/status-updates/"
    assert viewer_api.post(url, {"text": "hi"}, format="json").status_code == 403
    assert engineer_api.post(url, {"text": "  "}, format="json").status_code == 400
    got = engineer_api.post(url, {"text": "Rolled back; watching error rate"}, format="json")
    assert got.status_code == 201
    assert got.json()["recipients"] == ["dave"]
    assert (
        engineer_api.post("/api/v1/incidents/999999/status-updates/", {"text": "x"}, format="json").status_code == 404
    )


def test_ical_feed_lists_the_persons_shifts_behind_their_secret(client, primary):
    alice = person("alice")
    token = feed_token_create(user=alice)
    got = client.get(f"/api/v1/schedules/{primary.pk}/ical", {"token": token})
    assert got.status_code == 200
    assert got["Content-Type"].startswith("text/calendar")
    text = got.content.decode()
    assert text.startswith("BEGIN:VCALENDAR")
    assert text.count("BEGIN:VEVENT") >= 6  # alice's turns in 97 days of weekly shifts
    assert "SUMMARY:On call: primary" in text
    assert client.get(f"/api/v1/schedules/{primary.pk}/ical", {"token": "guess"}).status_code == 404
