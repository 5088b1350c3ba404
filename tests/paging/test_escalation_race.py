"""Two overlapping beat ticks fire a step once: the conditional update decides, on PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from incidents.paging.escalation import escalations_tick
from incidents.paging.models import Delivery, EscalationFiring, IncidentEscalation
from tests.factories import IncidentFactory
from tests.paging.helpers import person, policy

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_overlapping_ticks_fire_a_step_once():
    assert connection.vendor == "postgresql"
    alice, bob = person("alice", ("email", "alice@example.com")), person("bob", ("email", "bob@example.com"))
    policy("default", {"users": [alice], "wait_minutes": 1}, {"users": [bob]})
    incidents = [IncidentFactory(severity="P1") for _ in range(5)]
    due = max(IncidentEscalation.objects.values_list("next_fire_at", flat=True)) + timedelta(seconds=1)
    barrier = threading.Barrier(2)
    fired: list[int] = []

    def tick():
        try:
            barrier.wait()
            fired.append(escalations_tick(now=due))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(fired) == 5
    for incident in incidents:
        assert EscalationFiring.objects.filter(escalation__incident=incident, index=1).count() == 1
        pages = Delivery.objects.filter(incident=incident).values_list("recipient", flat=True).order_by("id")
        assert list(pages) == ["alice", "bob"]
