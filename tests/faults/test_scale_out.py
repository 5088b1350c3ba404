"""Two web servers, two workers and — by mistake — two beat processes on one PostgreSQL and one Redis."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from diagnostics.models import DiagnosticRun
from incidents.integrations import integration_create
from incidents.models import Incident, TimelineEntry, TimelineKind
from incidents.paging.models import EscalationFiring
from tests.faults.conftest import pages_delivered_once, paging_to, service_with_target
from tests.faults.processes import wait_until
from tests.incidents.intake import payloads

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ALERTS = 6
CREATIONS = 6
SWEEP = "Sending due task sla-breaches"


def test_two_of_everything_files_and_marks_each_thing_once(fleet_factory, redis_server, engineer_token, receiver):
    service_with_target("checkout")
    # Step 1 pages alice when an incident opens; step 2 pages bob once the 2-second acknowledge target passes.
    paging_to(receiver, "alice", "bob")
    _, am_token = integration_create(name="am", kind="alertmanager")
    # Deadlines of 2 s, a breach sweep and an escalation tick every second from each beat: the two beats
    # race on every breach and every second step.
    fleet = fleet_factory(
        redis_server, SLA_ACK_SECONDS_P1="2", SLA_ACK_SECONDS_P2="2", SLA_CHECK_INTERVAL_SECONDS="1",
        PAGING_ESCALATION_INTERVAL_SECONDS="1",
    )  # fmt: skip
    for name in ("worker-a", "worker-b"):
        fleet.worker(name, concurrency=2, wait=False)
    beats = [fleet.beat("beat-a"), fleet.beat("beat-b")]
    webs = [fleet.web("web-a"), fleet.web("web-b")]
    fleet.ready()
    for beat in beats:
        wait_until(lambda: SWEEP in beat.log(), timeout=60, message=f"{beat.name} to send sweeps")  # noqa: B023

    def post_alert(web, i: int) -> int:
        # An Alertmanager HA pair sends the same notification to each replica of the receiver.
        alert = payloads.alert(alertname=f"ScaleAlert{i}", service="checkout")
        body = payloads.webhook([alert], group_key=f'{{}}:{{alertname="ScaleAlert{i}"}}')
        headers = {"Authorization": f"Bearer {am_token}"}
        return requests.post(f"{web.url}/api/v1/integrations/alertmanager/", json=body, headers=headers, timeout=30)

    def create_incident(web, i: int) -> int:
        # A client retrying through a load balancer: the same Idempotency-Key reaches both servers.
        body = {"title": f"Scale incident {i}", "severity": "P2", "services": ["checkout"]}
        headers = {"Authorization": f"Bearer {engineer_token}", "Idempotency-Key": f"scale-{i}"}
        return requests.post(f"{web.url}/api/v1/incidents/", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda job: job[0](job[1], job[2]), [
            (send, web, i)
            for i in range(max(ALERTS, CREATIONS))
            for send, count in ((post_alert, ALERTS), (create_incident, CREATIONS)) if i < count
            for web in webs
        ]))  # fmt: skip
    assert sorted({a.status_code for a in answers}) in ([200, 201], [200, 201, 409]), [a.text for a in answers]

    for i in range(ALERTS):
        assert Incident.objects.filter(alerts__labels__alertname=f"ScaleAlert{i}").distinct().count() == 1
    for i in range(CREATIONS):
        assert Incident.objects.filter(title=f"Scale incident {i}").count() == 1
    assert Incident.objects.count() == ALERTS + CREATIONS

    def all_breached() -> bool:
        return not Incident.objects.filter(sla_breached_at__isnull=True).exists()

    wait_until(all_breached, timeout=45, interval=0.5, message="every incident's SLA breach to be marked")
    wait_until(
        lambda: not DiagnosticRun.objects.filter(attached_at__isnull=True).exists(),
        timeout=45, interval=0.5, message="every diagnostic run to reach its timeline",
    )  # fmt: skip
    time.sleep(3)  # more sweeps from both beats: none may mark a breach again
    for incident in Incident.objects.all():
        entries = TimelineEntry.objects.filter(incident=incident)
        assert entries.filter(kind=TimelineKind.SLA_BREACHED).count() == 1, incident
        assert entries.filter(kind=TimelineKind.DIAGNOSTIC).count() == 1, incident
    assert DiagnosticRun.objects.count() == ALERTS + CREATIONS
    # Each incident's two steps fired once each, and each page reached its person once.
    total = ALERTS + CREATIONS
    wait_until(
        lambda: len(receiver.received) >= 2 * total, timeout=45, interval=0.5, message="both pages of every incident"
    )
    time.sleep(2)
    for incident in Incident.objects.all():
        fired = EscalationFiring.objects.filter(escalation__incident=incident)
        assert sorted(fired.values_list("index", flat=True)) == [0, 1], incident
    pages_delivered_once(receiver, expected=2 * total)
    assert sorted(r.path for r in receiver.received) == ["/hook/alice"] * total + ["/hook/bob"] * total
    # Both beats kept sending the sweep all along, so the race was real.
    for beat in beats:
        assert beat.log().count(SWEEP) >= 5, beat.log()[-2000:]
