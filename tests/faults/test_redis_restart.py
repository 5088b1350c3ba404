"""Redis (broker and cache) restarted while alerts and incidents stream in, each paging the on-call."""

import time

import pytest
import requests

from diagnostics.models import DiagnosticRun
from incidents.integrations import integration_create
from incidents.models import Incident, TimelineEntry, TimelineKind
from incidents.paging.models import Delivery
from tests.faults.conftest import Sender, pages_delivered_once, paging_to, service_with_target
from tests.faults.processes import wait_until
from tests.incidents.intake import payloads

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ITEMS = 12


def test_redis_restart_loses_and_doubles_nothing(fleet_factory, redis_server, engineer_token, receiver):
    service_with_target("checkout")
    paging_to(receiver, "alice")
    _, am_token = integration_create(name="am", kind="alertmanager")
    # The reaper sends again the runs, and the sweep the pages, whose message could not be sent while
    # Redis was down.
    fleet = fleet_factory(
        redis_server, DIAGNOSTICS_REAP_INTERVAL_SECONDS="2", DIAGNOSTICS_REQUEUE_SECONDS="6",
        PAGING_SWEEP_INTERVAL_SECONDS="2", PAGING_SWEEP_GRACE_SECONDS="4",
    )  # fmt: skip
    web = fleet.web(threads=4)
    fleet.worker(concurrency=2)
    fleet.beat()

    def post_alert(i: int) -> requests.Response:
        alert = payloads.alert(alertname=f"FaultAlert{i}", service="checkout")
        body = payloads.webhook([alert], group_key=f'{{}}:{{alertname="FaultAlert{i}"}}')
        return requests.post(
            f"{web.url}/api/v1/integrations/alertmanager/", json=body,
            headers={"Authorization": f"Bearer {am_token}"}, timeout=15,
        )  # fmt: skip

    def create_incident(i: int) -> requests.Response:
        body = {"title": f"Fault incident {i}", "severity": "P2", "services": ["checkout"]}
        return requests.post(
            f"{web.url}/api/v1/incidents/", json=body, timeout=15,
            headers={"Authorization": f"Bearer {engineer_token}", "Idempotency-Key": f"fault-incident-{i}"},
        )  # fmt: skip

    alerts = Sender(post_alert, count=ITEMS, pause=0.1).start()
    incidents = Sender(create_incident, count=ITEMS, pause=0.1).start()
    time.sleep(1.0)
    outage_started = time.monotonic()
    redis_server.restart(down_for=3.0)
    back_at = time.monotonic()
    alerts.join()
    incidents.join()

    for sender in (alerts, incidents):
        # Every item was accepted in the end, and nothing but success or a 503 with Retry-After was answered.
        assert sorted(sender.accepted) == list(range(ITEMS)), sender.answers
        assert set(sender.statuses()) <= {200, 201, 202, 503}, sender.statuses()
        assert all("Retry-After" in headers for _, status, headers in sender.answers if status == 503)
        assert not sender.errors, sender.errors
        assert sender.slowest < 10, f"a request took {sender.slowest:.1f} s"
    # Each accepted alert opened one incident, each accepted creation filed one: none lost, none doubled.
    for i in range(ITEMS):
        assert Incident.objects.filter(source="alertmanager", alerts__labels__alertname=f"FaultAlert{i}").count() == 1
        assert Incident.objects.filter(title=f"Fault incident {i}").count() == 1
    assert Incident.objects.count() == 2 * ITEMS

    # The worker reconnected by itself and every incident's diagnostics ran, including those queued
    # while Redis was away.
    def all_attached() -> bool:
        return not DiagnosticRun.objects.filter(attached_at__isnull=True).exists()

    wait_until(all_attached, timeout=40, interval=0.5, message="every diagnostic run to reach its timeline")
    runs = DiagnosticRun.objects.all()
    assert runs.count() == 2 * ITEMS
    unfinished = [(run.pk, run.status, run.error) for run in runs if run.status != "succeeded"]
    assert not unfinished
    for incident in Incident.objects.all():
        assert TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.DIAGNOSTIC).count() == 1

    # Every incident paged alice once, including those opened while Redis was away.
    def all_paged() -> bool:
        return (
            Delivery.objects.filter(purpose="page").exclude(status="delivered").count() == 0
            and len(receiver.received) >= 2 * ITEMS
        )

    wait_until(all_paged, timeout=60, interval=0.5, message="every page to be delivered")
    time.sleep(2)  # a late duplicate would arrive now
    pages_delivered_once(receiver, expected=2 * ITEMS)
    assert back_at - outage_started >= 3.0
