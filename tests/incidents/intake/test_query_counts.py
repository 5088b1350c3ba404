"""The intake's statements per delivery: a regression here costs every alert of a storm."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diagnostics.models import Target
from incidents.models import Incident, Integration, TimelineKind
from tests.incidents.intake.conftest import post_alertmanager

pytestmark = pytest.mark.django_db


def _body(key: str, *, starts: str = "2026-11-28T14:00:00Z") -> dict:
    return {
        "version": "4",
        "groupKey": key,
        "status": "firing",
        "receiver": "orion-ops",
        "externalURL": "http://alertmanager:9093",
        "commonAnnotations": {"summary": "Error rate above 5%"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "task-service", "severity": "critical"},
                "annotations": {},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"fp-{key}",
            }
        ],
    }


def _statements(client, body, capture) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx, capture(execute=True):
        response = post_alertmanager(client, body)
    assert response.status_code == 200, response.content
    # The test's own transaction turns BEGIN/COMMIT into savepoints: count the statements of the work itself.
    sql = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    return len(sql), sql


def test_new_alert_costs_seven_statements(alertmanager, services, django_capture_on_commit_callbacks):
    # Warm: the integration is cached by its token's digest, and which services have targets is known.
    _statements(alertmanager, _body("warm-up"), django_capture_on_commit_callbacks)
    count, sql = _statements(alertmanager, _body("new-key"), django_capture_on_commit_callbacks)
    # payload, key state with the services, incident (ON CONFLICT DO NOTHING), its services, timeline,
    # alert row; no lookup of the integration, no savepoint, no diagnostics lookup (no service has a target).
    assert count == 6 + 1, "\n".join(sql)  # + paging: one look for the policy and the stakeholders
    assert not any(s.startswith('SELECT "incidents_service"') for s in sql)
    assert Incident.objects.get(dedup_key="new-key").services.get().slug == "task-service"
    assert sum("paging_" in s for s in sql) == 1
    assert any("ON CONFLICT DO NOTHING RETURNING" in s and "incidents_incident" in s for s in sql)
    assert not any("diagnostics_target" in s for s in sql)
    assert Incident.objects.filter(dedup_key="new-key").count() == 1


def test_repeated_alert_costs_three_statements(alertmanager, services, django_capture_on_commit_callbacks):
    post_alertmanager(alertmanager, _body("same-key"))
    count, sql = _statements(alertmanager, _body("same-key"), django_capture_on_commit_callbacks)
    assert count == 3, "\n".join(sql)  # payload, key state, last-seen
    assert Incident.objects.filter(dedup_key="same-key").count() == 1


def test_reopening_a_closed_key_links_it_in_one_timeline_write(alertmanager, services, engineer):
    from incidents import lifecycle
    from incidents.actors import Actor

    post_alertmanager(alertmanager, _body("flappy"))
    first = Incident.objects.get(dedup_key="flappy")
    lifecycle.transition(first, "resolved", actor=Actor.for_user(engineer), note="fixed by hand")
    with CaptureQueriesContext(connection) as ctx:
        post_alertmanager(alertmanager, _body("flappy", starts="2026-11-28T15:00:00Z"))
    second = Incident.objects.exclude(pk=first.pk).get(dedup_key="flappy")
    assert second.previous_incident_id == first.pk
    kinds = list(second.timeline.values_list("kind", flat=True))
    assert kinds == [TimelineKind.CREATED, TimelineKind.ALERT_FIRED]
    timeline_inserts = [q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "incidents_timelineentry"')]
    assert len(timeline_inserts) == 1


def test_a_service_with_a_target_still_gets_its_diagnostics_lookup(
    alertmanager, services, django_capture_on_commit_callbacks
):
    Target.objects.create(
        service=services["task-service"], kind="prometheus", name="prom", config={"url": "http://p:9090"}
    )
    count, sql = _statements(alertmanager, _body("targeted"), django_capture_on_commit_callbacks)
    assert any("diagnostics_target" in s for s in sql)


def test_services_read_with_the_first_key_serve_every_key_of_the_delivery(
    alertmanager, services, django_capture_on_commit_callbacks
):
    Integration.objects.update(grouping="fingerprint")  # each alert is its own key
    alerts = []
    for key, service in (("known-key", "task-service"), ("other-key", "notification-service"), ("stray", "nope")):
        alert = _body(key)["alerts"][0]
        alert["fingerprint"], alert["labels"]["service"] = key, service
        alerts.append(alert)
    post_alertmanager(alertmanager, {**_body("g"), "alerts": alerts[:1]})
    count, sql = _statements(alertmanager, {**_body("g"), "alerts": alerts}, django_capture_on_commit_callbacks)
    service_reads = [s for s in sql if "FROM incidents_service WHERE slug" in s or 'FROM "incidents_service"' in s]
    assert len(service_reads) == 1, "\n".join(sql)  # once, with the first key's state, for all three keys
    opened = {i.dedup_key: i for i in Incident.objects.filter(dedup_key__in=["known-key", "other-key", "stray"])}
    assert [s.slug for s in opened["known-key"].services.all()] == ["task-service"]
    assert [s.slug for s in opened["other-key"].services.all()] == ["notification-service"]
    assert not opened["stray"].services.exists()
    assert opened["stray"].unrouted
