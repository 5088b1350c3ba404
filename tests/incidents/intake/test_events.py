import pytest
from rest_framework.test import APIClient

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import AlertPayload, Incident, TimelineKind

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/events/"


def send(events, **fields):
    body = {"routing_key": events.token, **fields}
    return APIClient().post(URL, body, format="json")


def trigger(events, dedup_key=None, severity="critical", summary="DB connections at 96% on task-db"):
    fields = {
        "event_action": "trigger",
        "payload": {
            "summary": summary,
            "source": "task-db-0.orion-prod",
            "severity": severity,
            "timestamp": "2026-11-27T14:02:00.000+0000",
            "component": "task-service",
            "group": "database",
            "class": "connections",
            "custom_details": {"active": 96, "max_connections": 100},
        },
        "links": [{"href": "https://grafana.example.com/d/pg", "text": "PostgreSQL dashboard"}],
        "images": [],
    }
    if dedup_key:
        fields["dedup_key"] = dedup_key
    return send(events, **fields)


def test_trigger_opens_and_returns_a_generated_dedup_key(events, services):
    response = trigger(events)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Event processed"
    incident = Incident.objects.get(dedup_key=body["dedup_key"])
    assert len(body["dedup_key"]) == 32
    assert incident.severity == "P1" and incident.source == "events"
    assert incident.title == "DB connections at 96% on task-db"
    assert list(incident.services.values_list("slug", flat=True)) == ["task-service"]
    assert '"max_connections": 100' in incident.description
    assert AlertPayload.objects.get().status == "processed"


@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", "P1"), ("error", "P2"), ("warning", "P2"), ("info", "P3")]
)
def test_severity_mapping(events, severity, expected):
    key = trigger(events, severity=severity).json()["dedup_key"]
    assert Incident.objects.get(dedup_key=key).severity == expected


def test_trigger_round_trip_ack_resolve(events, services):
    key = trigger(events, dedup_key="pg-conn-task-db").json()["dedup_key"]
    assert key == "pg-conn-task-db"
    assert trigger(events, dedup_key=key).status_code == 202
    incident = Incident.objects.get(dedup_key=key)
    assert incident.occurrences == 2 and Incident.objects.count() == 1

    assert send(events, event_action="acknowledge", dedup_key=key).status_code == 202
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and incident.acknowledged_by is None
    entries = incident.timeline.count()
    # Acknowledging again is a no-op.
    assert send(events, event_action="acknowledge", dedup_key=key).status_code == 202
    assert incident.timeline.count() == entries

    # An explicit resolve ends it even though people acknowledged it, as PagerDuty does.
    assert send(events, event_action="resolve", dedup_key=key).status_code == 202
    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("resolved", "auto_resolved")
    assert incident.acknowledged_at is not None  # the sender's acknowledgement stays on record
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1
    # Resolving again is a no-op on the closed incident.
    assert send(events, event_action="resolve", dedup_key=key).status_code == 202
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1


def test_resolve_of_a_detected_incident_auto_resolves(events):
    key = trigger(events).json()["dedup_key"]
    assert send(events, event_action="resolve", dedup_key=key).status_code == 202
    incident = Incident.objects.get(dedup_key=key)
    assert (incident.status, incident.resolution) == ("resolved", "auto_resolved")


def test_trigger_after_resolution_opens_a_linked_incident(events, engineer):
    key = trigger(events, dedup_key="disk-full").json()["dedup_key"]
    first = Incident.objects.get(dedup_key=key)
    lifecycle.transition(first, "resolved", actor=Actor.for_user(engineer), note="disk cleaned")
    trigger(events, dedup_key=key)
    second = Incident.objects.exclude(pk=first.pk).get(dedup_key=key)
    assert second.previous_incident == first and second.status == "detected"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_unknown_key_is_accepted_and_dropped(events, action):
    response = send(events, event_action=action, dedup_key="never-seen")
    assert response.status_code == 202
    assert Incident.objects.count() == 0


def test_invalid_routing_key_is_400_in_pagerduty_shape(events):
    response = APIClient().post(URL, {"routing_key": "nope", "event_action": "trigger"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Invalid routing key"
    assert body["errors"] == ["'routing_key' does not match an events integration"]


def test_alertmanager_token_is_not_a_routing_key(alertmanager):
    response = APIClient().post(URL, {"routing_key": alertmanager.token, "event_action": "trigger"}, format="json")
    assert response.status_code == 400 and response.json()["message"] == "Invalid routing key"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"event_action": "explode", "dedup_key": "k"}, "'event_action'"),
        ({"event_action": "trigger", "dedup_key": "k" * 256, "payload": {}}, "'dedup_key'"),
        ({"event_action": "trigger"}, "'payload'"),
        ({"event_action": "trigger", "payload": {"source": "s", "severity": "info"}}, "'payload.summary'"),
        ({"event_action": "trigger", "payload": {"summary": "x", "severity": "info"}}, "'payload.source'"),
        (
            {"event_action": "trigger", "payload": {"summary": "x", "source": "s", "severity": "bad"}},
            "'payload.severity'",
        ),
        (
            {
                "event_action": "trigger",
                "payload": {"summary": "x", "source": "s", "severity": "info", "timestamp": "soon"},
            },
            "'payload.timestamp'",
        ),
        ({"event_action": "acknowledge"}, "'dedup_key'"),
    ],
)
def test_invalid_events_name_the_field(events, fields, needle):
    response = send(events, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert any(needle in error for error in body["errors"]), body
    assert Incident.objects.count() == 0


def test_malformed_json_is_400_in_pagerduty_shape(events):
    response = APIClient().post(URL, b"{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["status"] == "invalid event"


def test_schema_documents_both_endpoints(viewer_api):
    schema = viewer_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    alertmanager = schema["paths"]["/api/v1/integrations/alertmanager/"]["post"]
    events_op = schema["paths"]["/api/v1/integrations/events/"]["post"]
    assert {"200", "202", "400", "401", "413", "503"} <= set(alertmanager["responses"])
    assert {"202", "400", "503"} <= set(events_op["responses"])
    assert "routing_key" in schema["components"]["schemas"]["EventV2Request"]["properties"]
