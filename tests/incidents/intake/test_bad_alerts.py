"""A bad alert never costs the good ones: the corpus of bodies that used to lose alerts.

Each case is a webhook body with good alerts around one bad one (or a bad
value in a shared field). Whatever the bad content, the answer is never a 5xx,
the good alerts are applied, the bad one is listed with its reason on the
payload and in the answer, and nothing is left pending.
"""

import json

import pytest
from rest_framework.test import APIClient

from incidents.models import AlertPayload, Incident, IncidentAlert, PayloadStatus
from tests.incidents.intake import payloads

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager/"
GOOD_FINGERPRINTS = {"0000000000000001", "0000000000000002"}


def post_raw(client, body) -> object:
    # ensure_ascii keeps lone surrogates as \ud800 escapes, as a sender's JSON encoder would.
    return client.post(URL, json.dumps(body, ensure_ascii=True), content_type="application/json")


def body_with(bad: dict) -> dict:
    good = [
        payloads.alert(fingerprint="0000000000000001", extra_labels={"pod": "task-service-1"}),
        payloads.alert(fingerprint="0000000000000002", extra_labels={"pod": "task-service-2"}),
    ]
    body = payloads.webhook(good, group_key='{}:{alertname="HighErrorRate"}')
    body["alerts"].insert(1, bad)
    return body


def bad_alert(**changes) -> dict:
    alert = payloads.alert(fingerprint="00000000000000bb", extra_labels={"pod": "task-service-bad"})
    for path, value in changes.items():
        target = alert
        parts = path.split("__")
        for part in parts[:-1]:
            target = target[part]
        if value is KeyError:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value
    return alert


# Values PostgreSQL cannot store are cleaned: the alert is kept, the character becomes U+FFFD.
CLEANED = {
    "nul in a label value": bad_alert(labels__pod="task\x00service"),
    "nul in a label name": {**bad_alert(), "labels": {"alertname": "HighErrorRate", "po\x00d": "x"}},
    "nul in an annotation": bad_alert(annotations__summary="pool \x00 exhausted"),
    "nul in the fingerprint": bad_alert(fingerprint="00000000000\x00bb"),
    "lone surrogate in a label": bad_alert(labels__pod="task-\ud800-service"),
    "lone surrogate in an annotation": bad_alert(annotations__description="broken \udfff text"),
    "low surrogate first": bad_alert(annotations__summary="\udc00\ud800"),
}

# Values that cannot be an alert are refused one by one.
REFUSED = {
    "zero startsAt": (bad_alert(startsAt="0001-01-01T00:00:00Z"), "startsAt"),
    "zero startsAt east of UTC": (bad_alert(startsAt="0001-01-01T00:00:00+05:00"), "startsAt"),
    "startsAt past year 9999 in UTC": (bad_alert(startsAt="9999-12-31T23:59:59-01:00"), "startsAt"),
    "startsAt without a zone": (bad_alert(startsAt="2026-11-27T14:00:00"), "startsAt"),
    "startsAt a number": (bad_alert(startsAt=1764252000), "startsAt"),
    "startsAt missing": (bad_alert(startsAt=KeyError), "startsAt"),
    "status unknown": (bad_alert(status="pending"), "status"),
    "labels a list": (bad_alert(labels=["a", "b"]), "labels"),
    "label value a number": (bad_alert(labels__severity=5), "labels.severity"),
    "annotation value an object": (bad_alert(annotations__summary={"x": 1}), "annotations.summary"),
    "fingerprint too long": (bad_alert(fingerprint="f" * 256), "fingerprint"),
    "alert is a string": ("not an alert", "alerts[1]"),
    "alert is null": (None, "alerts[1]"),
    "alert nested 100 deep": (bad_alert(annotations__deep=json.loads("[" * 100 + "]" * 100)), "alerts[1]"),
}


@pytest.mark.parametrize("bad", CLEANED.values(), ids=CLEANED.keys())
def test_unstorable_characters_are_replaced_and_every_alert_kept(alertmanager, bad):
    response = post_raw(alertmanager, body_with(bad))
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == []
    incident = Incident.objects.get()
    assert incident.alerts.count() == 3
    stored = json.dumps(list(IncidentAlert.objects.values_list("labels", "annotations", "fingerprint")))
    assert "\\u0000" not in stored and "\\ud8" not in stored and "\\udc" not in stored and "\\udf" not in stored
    assert "\ufffd" in json.dumps(
        list(IncidentAlert.objects.values_list("labels", "annotations", "fingerprint")), ensure_ascii=False
    )
    assert AlertPayload.objects.get().status == PayloadStatus.PROCESSED


@pytest.mark.parametrize(("bad", "field"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_alert_is_refused_alone_and_the_others_applied(alertmanager, bad, field):
    response = post_raw(alertmanager, body_with(bad))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert [r["alert"] for r in answer["rejected"]] == [1]
    assert any(field in error for error in answer["rejected"][0]["errors"]), answer["rejected"]
    incident = Incident.objects.get()
    assert set(incident.alerts.values_list("fingerprint", flat=True)) == GOOD_FINGERPRINTS
    payload = AlertPayload.objects.get(pk=answer["payload"])
    assert payload.status == PayloadStatus.PROCESSED
    assert payload.rejected[0]["alert"] == 1 and field in payload.error


@pytest.mark.parametrize(
    ("field", "value"),
    [("groupKey", '{}:{alertname="High\x00ErrorRate"}'), ("groupKey", "{}:\ud83d"), ("externalURL", "http://am\x00")],
)
def test_unstorable_shared_fields_are_cleaned(alertmanager, field, value):
    body = body_with(bad_alert())
    body[field] = value
    response = post_raw(alertmanager, body)
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert "\x00" not in incident.dedup_key and incident.alerts.count() == 3


def test_a_body_where_every_alert_is_bad_is_400_naming_each(alertmanager):
    body = payloads.webhook([payloads.alert()])
    body["alerts"] = [bad_alert(startsAt="0001-01-01T00:00:00Z"), bad_alert(status="nope")]
    response = post_raw(alertmanager, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(e.startswith("alerts[0].startsAt") for e in errors)
    assert any(e.startswith("alerts[1].status") for e in errors)
    assert Incident.objects.count() == 0 and AlertPayload.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"version": "4", "alerts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"version": "4", "x": NaN}',
        b'{"version": "4", "x": 1e999}',
        b"\xff\xfe{}",
        '{"version": "4"}'.encode("utf-16"),
    ],
    ids=["deep array", "deep alerts", "NaN", "infinity", "not utf-8", "utf-16"],
)
def test_unparseable_bodies_are_400(alertmanager, raw):
    response = alertmanager.post(URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]
    assert AlertPayload.objects.count() == 0


@pytest.mark.parametrize("header", ["\xa0", "Bearer \xa0", "Bearer\xa0x", "Bearer \x00", "Bearer " + "é" * 40])
def test_odd_authorization_headers_are_401(alertmanager, header):
    response = APIClient().post(URL, payloads.firing(), format="json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert AlertPayload.objects.count() == 0


def test_payload_api_serves_bodies_with_lone_surrogates(alertmanager, manager_api):
    post_raw(alertmanager, body_with(bad_alert(labels__pod="\ud800")))
    engineer_view = manager_api.get("/api/v1/alert-payloads/")
    assert engineer_view.status_code == 200
    body = engineer_view.json()["results"][0]["body"]
    assert body["alerts"][1]["labels"]["pod"] == "\ufffd"
