"""Events API v2 bodies that used to 500 or leave half-written rows."""

import json

import pytest

from incidents.models import AlertPayload, Incident, PayloadStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/events/"


def post_event(client, events, **fields):
    body = {"routing_key": events.token, "event_action": "trigger", **fields}
    return client.post(URL, json.dumps(body, ensure_ascii=True), content_type="application/json")


def payload(**changes):
    base = {"summary": "DB connections at 96%", "source": "task-db-0", "severity": "critical"}
    return {**base, **changes}


@pytest.mark.parametrize(
    "fields",
    [
        {"payload": payload(summary="pool\x00exhausted")},
        {"payload": payload(source="task-db\x00-0")},
        {"payload": payload(component="task\ud800service")},
        {"payload": payload(custom_details={"k\x00ey": ["v\x00", {"deep": "\udfff"}]})},
        {"payload": payload(), "dedup_key": "pg-\x00-conn"},
        {"payload": payload(), "dedup_key": "\ud83d"},
        {"payload": payload(), "links": [{"href": "https://grafana\x00.example.com", "text": "\ud800"}]},
    ],
    ids=["summary", "source", "component", "custom details", "dedup nul", "dedup surrogate", "links"],
)
def test_unstorable_characters_in_an_event_are_replaced(client, events, fields):
    response = post_event(client, events, **fields)
    assert response.status_code == 202, response.content
    incident = Incident.objects.get()
    assert "\x00" not in incident.title + incident.dedup_key + incident.description
    assert AlertPayload.objects.get().status == PayloadStatus.PROCESSED
    assert AlertPayload.objects.filter(status=PayloadStatus.PENDING).count() == 0


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"payload": payload(timestamp="9999-12-31T23:59:59-01:00")}, "'payload.timestamp'"),
        ({"payload": payload(timestamp=1764252000)}, "'payload.timestamp'"),
        ({"payload": payload(summary="  ")}, "'payload.summary'"),
        ({"payload": payload(summary=["a"])}, "'payload.summary'"),
        ({"payload": "text"}, "'payload'"),
        ({"payload": payload(), "links": "x"}, "'links'"),
        ({"payload": payload(), "dedup_key": ""}, "'dedup_key'"),
        ({"payload": payload(), "dedup_key": 5}, "'dedup_key'"),
    ],
)
def test_invalid_events_are_400_with_nothing_stored(client, events, fields, needle):
    response = post_event(client, events, **fields)
    assert response.status_code == 400, response.content
    assert any(needle in error for error in response.json()["errors"]), response.json()
    assert AlertPayload.objects.count() == 0 and Incident.objects.count() == 0


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00"])
def test_a_zero_timestamp_means_not_given(client, events, timestamp):
    from django.utils import timezone

    before = timezone.now()
    response = post_event(client, events, payload=payload(timestamp=timestamp))
    assert response.status_code == 202, response.content
    assert Incident.objects.get().detected_at >= before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"routing_key": "k", "payload": {"custom_details": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
        b'{"routing_key": "k", "x": NaN}',
        b"[" * 100_000,
        b"\xed\xa0\x80",
    ],
    ids=["1000 deep", "NaN", "100k brackets", "encoded surrogate"],
)
def test_unparseable_events_are_400_in_pagerduty_shape(client, raw):
    response = client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"


def test_deep_custom_details_under_a_valid_key_are_400(client, events):
    deep: list = []
    for _ in range(80):
        deep = [deep]
    response = post_event(client, events, payload=payload(custom_details=deep))
    assert response.status_code == 400
    assert any("nested deeper" in error for error in response.json()["errors"])
    assert AlertPayload.objects.count() == 0


@pytest.mark.parametrize("routing_key", ["oi_\x00", "\ud800", "\xa0", " "])
def test_odd_routing_keys_are_refused(client, routing_key):
    body = json.dumps({"routing_key": routing_key, "event_action": "trigger", "payload": payload()})
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert AlertPayload.objects.count() == 0
