import io

import pytest
from django.core.management import call_command

from incidents.models import Incident
from incidents.paging.models import Delivery, EscalationPolicy, IncidentEscalation, Schedule
from incidents.paging.oncall import oncall

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_schedule_and_a_policy_that_paged_its_incidents():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    schedule = Schedule.objects.get()
    assert oncall(schedule, at=Incident.objects.first().detected_at).users[0] in ("alice", "bob")
    policy = EscalationPolicy.objects.get(is_default=True)
    assert policy.steps.count() == 2
    # Escalation runs while nobody has acknowledged, and stopped once somebody did.
    detected = Incident.objects.filter(status="detected")
    acknowledged = Incident.objects.exclude(status="detected").filter(escalation__isnull=False)
    assert detected.exists() and acknowledged.exists()
    assert {e.state for e in IncidentEscalation.objects.filter(incident__in=detected)} == {"active"}
    assert {e.state for e in IncidentEscalation.objects.filter(incident__in=acknowledged)} == {"stopped"}
    p1 = Incident.objects.get(title__startswith="High error rate on task-service")
    assert Delivery.objects.filter(incident=p1, purpose="page").exists()
    assert Delivery.objects.filter(incident=p1, purpose="update", recipient="vera").exists()
