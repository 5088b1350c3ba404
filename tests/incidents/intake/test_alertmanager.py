from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import AlertPayload, Incident, IncidentAlert, TimelineEntry, TimelineKind
from tests.incidents.intake import payloads
from tests.incidents.intake.conftest import post_alertmanager

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager/"


def kinds(incident):
    return list(TimelineEntry.objects.filter(incident=incident).order_by("id").values_list("kind", flat=True))


def test_firing_group_opens_an_incident(alertmanager, services):
    response = post_alertmanager(alertmanager, payloads.firing())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "processed" and body["alerts"] == 1
    (outcome,) = body["outcomes"]
    assert outcome["action"] == "opened"
    incident = Incident.objects.get(pk=outcome["incident"])
    assert incident.status == "detected"
    assert incident.severity == "P1"  # severity=critical
    assert incident.source == "alertmanager"
    assert incident.title == "HighErrorRate: Error rate above 5% for 5 minutes"
    assert list(incident.services.values_list("slug", flat=True)) == ["task-service"]
    assert incident.detected_at.isoformat().startswith("2026-11-27T14:00:00.123456")
    assert incident.occurrences == 1 and not incident.unrouted
    assert incident.alerts.get().fingerprint == "a1b2c3d4e5f60718"
    created = incident.timeline.get(kind=TimelineKind.CREATED)
    assert created.actor_kind == "integration" and created.actor_name == "prod alertmanager"
    payload = AlertPayload.objects.get(pk=body["payload"])
    assert payload.status == "processed" and '"HighErrorRate"' in payload.body


@pytest.mark.parametrize(
    ("labels", "severity"),
    [
        ({"severity": "critical"}, "P1"),
        ({"severity": "warning"}, "P2"),
        ({"severity": "info"}, "P3"),
        ({"severity": "page-me"}, "P2"),
        ({"severity": "info", "priority": "P0"}, "P0"),
        ({"severity": "critical", "orion_severity": "p3"}, "P3"),
    ],
)
def test_severity_mapping(alertmanager, services, labels, severity):
    severity_label = labels.pop("severity")
    body = payloads.webhook([payloads.alert(severity=severity_label, extra_labels=labels, fingerprint="f1")])
    response = post_alertmanager(alertmanager, body)
    assert Incident.objects.get(pk=response.json()["outcomes"][0]["incident"]).severity == severity


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"service": "notification-service"}, ["notification-service"]),
        ({"service": "unknown", "app": "task-service"}, ["task-service"]),
        ({"job": "node-exporter"}, ["node-exporter"]),
    ],
)
def test_service_mapping(alertmanager, services, labels, expected):
    body = payloads.webhook([payloads.alert(service=None, extra_labels=labels, fingerprint="f1")])
    incident = Incident.objects.get(pk=post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"])
    assert sorted(incident.services.values_list("slug", flat=True)) == expected
    assert incident.unrouted is False


def test_alert_matching_no_service_is_unrouted(alertmanager, services):
    body = payloads.webhook([payloads.alert(service="payments", fingerprint="f1")])
    incident = Incident.objects.get(pk=post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"])
    assert incident.unrouted is True and incident.services.count() == 0
    assert incident.timeline.get(kind=TimelineKind.CREATED).data["unrouted"] is True


def test_repeat_interval_resend_changes_only_last_seen(alertmanager, services):
    first = post_alertmanager(alertmanager, payloads.firing()).json()
    incident = Incident.objects.get(pk=first["outcomes"][0]["incident"])
    # repeat_interval is minutes long; last-seen is kept to the second.
    seen = incident.last_seen_at - timedelta(minutes=4)
    Incident.objects.filter(pk=incident.pk).update(last_seen_at=seen)
    entries = kinds(incident)
    again = post_alertmanager(alertmanager, payloads.firing()).json()
    assert again["outcomes"][0] == {"key": incident.dedup_key, "action": "repeat", "incident": incident.pk}
    incident.refresh_from_db()
    assert incident.last_seen_at > seen
    assert incident.occurrences == 1 and incident.status == "detected"
    assert kinds(incident) == entries
    assert Incident.objects.count() == 1


def test_new_alert_in_the_group_attaches(alertmanager, services):
    first = payloads.firing()
    incident_id = post_alertmanager(alertmanager, first).json()["outcomes"][0]["incident"]
    grown = payloads.webhook(
        [
            payloads.alert(fingerprint="a1b2c3d4e5f60718"),
            payloads.alert(fingerprint="0f0e0d0c0b0a0908", extra_labels={"pod": "task-service-2"}),
        ]
    )
    outcome = post_alertmanager(alertmanager, grown).json()["outcomes"][0]
    assert outcome == {"key": grown["groupKey"], "action": "attached", "incident": incident_id}
    incident = Incident.objects.get(pk=incident_id)
    assert incident.occurrences == 2 and incident.status == "detected"
    fired = incident.timeline.get(kind=TimelineKind.ALERT_FIRED)
    assert fired.data["alerts"] == 1 and fired.data["fingerprints"] == ["0f0e0d0c0b0a0908"]
    assert Incident.objects.count() == 1


def test_all_resolved_auto_resolves_a_detected_incident(alertmanager, services):
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    outcome = post_alertmanager(alertmanager, payloads.resolved()).json()["outcomes"][0]
    assert outcome["action"] == "resolved"
    incident = Incident.objects.get(pk=incident_id)
    assert incident.status == "resolved" and incident.resolution == "auto_resolved"
    assert incident.acknowledged_at is None
    assert kinds(incident) == ["created", "alert_resolved", "status_changed"]
    assert incident.alerts.get().status == "resolved"
    assert incident.alerts.get().ends_at.isoformat().startswith("2026-11-27T14:20:00")


def test_resolved_alert_leaves_an_acknowledged_incident_with_its_people(alertmanager, services, engineer):
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    lifecycle.transition(Incident.objects.get(pk=incident_id), "acknowledged", actor=Actor.for_user(engineer))
    outcome = post_alertmanager(alertmanager, payloads.resolved()).json()["outcomes"][0]
    assert outcome["action"] == "resolve_noted"
    incident = Incident.objects.get(pk=incident_id)
    assert incident.status == "acknowledged" and incident.alerts_resolved_at is not None
    entry = incident.timeline.get(kind=TimelineKind.ALERT_RESOLVED)
    assert "left acknowledged" in entry.text
    # A second resolved notification adds nothing.
    post_alertmanager(alertmanager, payloads.resolved())
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1


def test_integration_may_resolve_acknowledged_incidents(alertmanager, services, engineer):
    alertmanager.integration.resolve_acknowledged = True
    alertmanager.integration.save()
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    lifecycle.transition(Incident.objects.get(pk=incident_id), "acknowledged", actor=Actor.for_user(engineer))
    post_alertmanager(alertmanager, payloads.resolved())
    incident = Incident.objects.get(pk=incident_id)
    assert (incident.status, incident.resolution) == ("resolved", "auto_resolved")
    assert incident.acknowledged_by == engineer


def test_mixed_group_keeps_firing_and_marks_resolved_alerts(alertmanager, services):
    body = payloads.webhook(
        [
            payloads.alert(fingerprint="aaaa"),
            payloads.alert(fingerprint="bbbb", extra_labels={"pod": "p2"}),
        ]
    )
    incident_id = post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"]
    mixed = payloads.webhook(
        [
            payloads.alert(fingerprint="aaaa"),
            payloads.alert(
                fingerprint="bbbb", status="resolved", ends_at="2026-11-27T14:10:00Z", extra_labels={"pod": "p2"}
            ),
        ]
    )
    assert mixed["status"] == "firing"
    outcome = post_alertmanager(alertmanager, mixed).json()["outcomes"][0]
    assert outcome["action"] == "repeat"
    incident = Incident.objects.get(pk=incident_id)
    assert incident.status == "detected"
    assert dict(incident.alerts.values_list("fingerprint", "status")) == {"aaaa": "firing", "bbbb": "resolved"}


def test_refire_after_resolve_opens_a_linked_incident(alertmanager, services, engineer):
    first_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    post_alertmanager(alertmanager, payloads.resolved())
    later = payloads.firing(starts_at="2026-11-27T16:30:00Z")
    outcome = post_alertmanager(alertmanager, later).json()["outcomes"][0]
    assert outcome["action"] == "opened" and outcome["incident"] != first_id
    second = Incident.objects.get(pk=outcome["incident"])
    assert second.previous_incident_id == first_id
    assert second.timeline.get(kind=TimelineKind.CREATED).data["seen_before"] == first_id
    assert "Seen before" in second.timeline.get(kind=TimelineKind.ALERT_FIRED).text


def test_resend_after_a_person_resolved_only_updates_last_seen(alertmanager, services, engineer):
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    lifecycle.transition(Incident.objects.get(pk=incident_id), "resolved", actor=Actor.for_user(engineer), note="fixed")
    Incident.objects.filter(pk=incident_id).update(last_seen_at=timezone.now() - timedelta(minutes=4))
    before = timezone.now()
    outcome = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]
    assert outcome == {"key": payloads.firing()["groupKey"], "action": "repeat", "incident": incident_id}
    incident = Incident.objects.get(pk=incident_id)
    assert incident.status == "resolved" and incident.last_seen_at >= before
    assert Incident.objects.count() == 1


def test_fingerprint_grouping_opens_one_incident_per_alert(alertmanager, services):
    alertmanager.integration.grouping = "fingerprint"
    alertmanager.integration.save()
    body = payloads.webhook(
        [payloads.alert(fingerprint=f"fp{i}", extra_labels={"pod": f"p{i}"}) for i in range(3)], group_key="g"
    )
    outcomes = post_alertmanager(alertmanager, body).json()["outcomes"]
    assert [o["action"] for o in outcomes] == ["opened"] * 3
    assert set(Incident.objects.values_list("dedup_key", flat=True)) == {"fp0", "fp1", "fp2"}


def test_truncated_alerts_are_recorded(alertmanager, services):
    body = payloads.webhook([payloads.alert(fingerprint="f1")], truncated=37)
    incident_id = post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"]
    assert Incident.objects.get(pk=incident_id).timeline.get(kind="created").data["truncated_alerts"] == 37


def test_unicode_labels(alertmanager, services):
    body = payloads.webhook(
        [
            payloads.alert(
                fingerprint="f1", summary="Fehlerquote über 5 % — 服务降级 🔥", extra_labels={"région": "évry"}
            )
        ]
    )
    incident_id = post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"]
    incident = Incident.objects.get(pk=incident_id)
    assert incident.title == "HighErrorRate: Fehlerquote über 5 % — 服务降级 🔥"
    assert incident.alerts.get().labels["région"] == "évry"


def test_alert_without_fingerprint_gets_a_label_hash(alertmanager, services):
    body = payloads.webhook([payloads.alert()])
    incident_id = post_alertmanager(alertmanager, body).json()["outcomes"][0]["incident"]
    fingerprint = IncidentAlert.objects.get(incident_id=incident_id).fingerprint
    assert len(fingerprint) == 16
    post_alertmanager(alertmanager, body)
    assert IncidentAlert.objects.filter(incident_id=incident_id).count() == 1


def test_alerts_and_raw_payloads_are_linked_from_the_incident(alertmanager, services, engineer_api, viewer_api):
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    detail = engineer_api.get(f"/api/v1/incidents/{incident_id}/").json()
    assert detail["integration"] == "prod alertmanager" and detail["occurrences"] == 1
    alerts = engineer_api.get(f"/api/v1/incidents/{incident_id}/alerts/").json()["results"]
    assert [a["fingerprint"] for a in alerts] == ["a1b2c3d4e5f60718"]
    payload_id = alerts[0]["payload"]
    listed = engineer_api.get(f"/api/v1/alert-payloads/?incident={incident_id}").json()["results"]
    assert [p["id"] for p in listed] == [payload_id]
    raw = engineer_api.get(f"/api/v1/alert-payloads/{payload_id}/").json()
    assert raw["body"]["groupKey"] == payloads.firing()["groupKey"]
    assert viewer_api.get(f"/api/v1/alert-payloads/{payload_id}/").status_code == 403


def test_replay_is_harmless_and_for_managers(alertmanager, services, engineer_api, manager_api):
    outcome = post_alertmanager(alertmanager, payloads.firing()).json()
    payload_id = outcome["payload"]
    assert engineer_api.post(f"/api/v1/alert-payloads/{payload_id}/replay/").status_code == 403
    response = manager_api.post(f"/api/v1/alert-payloads/{payload_id}/replay/")
    assert response.status_code == 200 and response.json()["attempts"] == 2
    assert Incident.objects.count() == 1 and IncidentAlert.objects.count() == 1


def test_identical_deliveries_within_a_second_do_not_rewrite_last_seen(alertmanager, services):
    incident_id = post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["incident"]
    # Seen "just now" whatever this machine's speed: a re-send within the second leaves it.
    seen = timezone.now() + timedelta(seconds=30)
    Incident.objects.filter(pk=incident_id).update(last_seen_at=seen)
    for _ in range(3):
        assert post_alertmanager(alertmanager, payloads.firing()).json()["outcomes"][0]["action"] == "repeat"
    assert Incident.objects.get(pk=incident_id).last_seen_at == seen
