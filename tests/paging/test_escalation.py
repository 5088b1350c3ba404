"""Escalation: the policy frozen at open, steps on time and once, acknowledge stops, reopen restarts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.actors import Actor
from incidents.lifecycle import transition
from incidents.models import TimelineEntry
from incidents.paging.escalation import escalations_tick
from incidents.paging.models import Delivery, EscalationFiring, EscalationStep, IncidentEscalation
from incidents.services import incident_update
from tests.factories import IncidentFactory, ServiceFactory
from tests.paging.helpers import person, policy, schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {name: person(name, ("email", f"{name}@example.com")) for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture
def default_policy(people):
    primary = schedule(participants=["alice", "bob"], handoff=timezone.now() - timedelta(hours=1))
    return policy("default", {"schedule": primary}, {"users": [people["carol"]]}, repeat=0)


def recipients(incident) -> list[str]:
    return list(
        Delivery.objects.filter(incident=incident, purpose="page").order_by("id").values_list("recipient", flat=True)
    )


def test_opening_pages_the_on_call_and_times_the_next_step_by_the_severity(default_policy):
    incident = IncidentFactory(severity="P1")
    assert recipients(incident) == ["alice"]
    escalation = IncidentEscalation.objects.get(incident=incident)
    assert escalation.policy_slug == "default"
    assert escalation.next_index == 1
    # The first wait is the P1 target (15 min), never later than the deadline it protects.
    assert escalation.next_fire_at == min(escalation.last_fired_at + timedelta(minutes=15), incident.ack_due_at)
    assert escalation.next_fire_at - escalation.last_fired_at > timedelta(minutes=14)
    entry = TimelineEntry.objects.get(incident=incident, kind="escalation")
    assert entry.text == "Escalation step 1: paged alice (on call for primary: alice)"


def test_step_two_fires_only_when_step_one_was_not_acknowledged_in_time(default_policy):
    incident = IncidentFactory(severity="P1")
    due = IncidentEscalation.objects.get(incident=incident).next_fire_at
    assert escalations_tick(now=due - timedelta(seconds=1)) == 0
    assert recipients(incident) == ["alice"]
    assert escalations_tick(now=due) == 1
    assert recipients(incident) == ["alice", "carol"]
    assert escalations_tick(now=due + timedelta(hours=5)) == 0  # the policy ran out
    assert IncidentEscalation.objects.get(incident=incident).state == "finished"


def test_acknowledging_stops_the_escalation(default_policy, people):
    incident = IncidentFactory(severity="P1")
    transition(incident, "acknowledged", actor=Actor.for_user(people["bob"]))
    escalation = IncidentEscalation.objects.get(incident=incident)
    assert escalation.state == "stopped"
    assert escalations_tick(now=timezone.now() + timedelta(hours=2)) == 0
    assert recipients(incident) == ["alice"]
    assert TimelineEntry.objects.filter(incident=incident, text="Escalation stopped: acknowledged by bob").exists()


def test_the_policy_is_frozen_when_the_incident_opens(default_policy, people):
    incident = IncidentFactory(severity="P1")
    step = EscalationStep.objects.get(policy=default_policy, position=1)
    step.users.set([people["dave"]])
    due = IncidentEscalation.objects.get(incident=incident).next_fire_at
    escalations_tick(now=due)
    assert recipients(incident) == ["alice", "carol"]
    later = IncidentFactory(severity="P1")
    assert IncidentEscalation.objects.get(incident=later).plan["steps"][1]["users"] == ["dave"]


def test_reopening_restarts_the_escalation(default_policy, people):
    incident = IncidentFactory(severity="P1")
    actor = Actor.for_user(people["bob"])
    transition(incident, "resolved", actor=actor, note="rolled back")
    transition(incident, "acknowledged", actor=actor)
    escalation = IncidentEscalation.objects.get(incident=incident)
    assert escalation.generation == 1
    assert escalation.state == "active"
    assert recipients(incident) == ["alice", "alice"]
    assert EscalationFiring.objects.filter(escalation=escalation).count() == 2


def test_raising_the_severity_retimes_the_pending_step(default_policy, people):
    incident = IncidentFactory(severity="P3")
    escalation = IncidentEscalation.objects.get(incident=incident)
    assert escalation.next_fire_at - escalation.last_fired_at > timedelta(hours=23)
    incident = incident_update(incident=incident, actor=Actor.for_user(people["bob"]), severity="P0")
    escalation.refresh_from_db()
    assert escalation.next_fire_at == min(escalation.last_fired_at + timedelta(minutes=5), incident.ack_due_at)
    assert escalation.next_fire_at - escalation.last_fired_at > timedelta(minutes=4)


def test_explicit_waits_and_repeats(people):
    policy(
        "default",
        {"users": [people["alice"]], "wait_minutes": 2},
        {"users": [people["bob"]], "wait_minutes": 3},
        repeat=1,
    )
    incident = IncidentFactory(severity="P2")
    start = IncidentEscalation.objects.get(incident=incident).last_fired_at
    for minutes in (2, 5, 7):
        assert escalations_tick(now=start + timedelta(minutes=minutes)) == 1
    assert escalations_tick(now=start + timedelta(minutes=60)) == 0
    assert recipients(incident) == ["alice", "bob", "alice", "bob"]


def test_a_first_wait_longer_than_the_sla_is_cut_to_the_deadline(people):
    policy("default", {"users": [people["alice"]], "wait_minutes": 60}, {"users": [people["bob"]]})
    incident = IncidentFactory(severity="P0")
    assert IncidentEscalation.objects.get(incident=incident).next_fire_at == incident.ack_due_at


def test_a_service_policy_wins_over_the_default(default_policy, people):
    svc = ServiceFactory(slug="payments")
    policy("payments", {"users": [people["dave"]]}, is_default=False, services=[svc])
    incident = IncidentFactory(severity="P1", services=[svc])
    assert recipients(incident) == ["dave"]
    assert IncidentFactory(severity="P1").escalation.policy_slug == "default"


def test_the_policy_is_the_first_service_by_slug_with_steps_else_the_default(default_policy, people):
    alpha, beta, gamma = (ServiceFactory(slug=slug) for slug in ("alpha", "beta", "gamma"))
    policy("empty", is_default=False, services=[alpha])  # no steps: passed over
    policy("for-gamma", {"users": [people["dave"]]}, is_default=False, services=[gamma])
    policy("z-for-beta", {"users": [people["bob"]]}, is_default=False, services=[beta])
    # The default policy also covering a service of the incident counts as that service's.
    default_policy.services.set([ServiceFactory(slug="zeta")])

    assert IncidentFactory(severity="P1", services=[gamma, beta, alpha]).escalation.policy_slug == "z-for-beta"
    assert IncidentFactory(severity="P1", services=[alpha]).escalation.policy_slug == "default"
    assert IncidentFactory(severity="P1", services=[gamma]).escalation.policy_slug == "for-gamma"
    # A service nobody covers, and an incident with no service: the default, once each.
    assert IncidentFactory(severity="P1", services=[ServiceFactory(slug="omega")]).escalation.policy_slug == "default"
    assert IncidentEscalation.objects.filter(incident=IncidentFactory(severity="P2")).count() == 1


def test_a_default_policy_without_steps_pages_nobody(people):
    policy("default")
    assert not IncidentEscalation.objects.filter(incident=IncidentFactory(severity="P1")).exists()


def test_no_policy_no_escalation(people):
    incident = IncidentFactory(severity="P1")
    assert not IncidentEscalation.objects.filter(incident=incident).exists()


def test_a_schedule_with_a_mistyped_time_zone_does_not_stop_the_incident(people):
    broken = schedule(participants=["alice"])
    broken.time_zone = "Europe/Berlín"
    broken.save()
    policy("default", {"schedule": broken}, {"users": [people["carol"]]})
    incident = IncidentFactory(severity="P1")
    entry = TimelineEntry.objects.get(incident=incident, kind="escalation")
    assert entry.text == "Escalation step 1: nobody to page (schedule primary has an unknown time zone 'Europe/Berlín')"
