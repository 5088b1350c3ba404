"""Stakeholders hear about their services' incidents; a written status update reaches them and the timeline."""

import pytest

from incidents.actors import Actor
from incidents.errors import DomainInputError
from incidents.lifecycle import transition
from incidents.models import TimelineEntry
from incidents.paging.models import Delivery, Stakeholder
from incidents.paging.notify import status_update_post
from incidents.services import incident_update
from incidents.sla import sla_breach_mark
from tests.factories import IncidentFactory, ServiceFactory
from tests.paging.helpers import channel, person

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched():
    svc = ServiceFactory(slug="task-service")
    dave = person("dave", ("email", "dave@example.com"), role="viewer")
    Stakeholder.objects.create(service=svc, user=dave)
    Stakeholder.objects.create(service=svc, channel=channel("ops-room", "slack", "ORION_TARGET_OPS_SLACK"))
    return svc


def events(incident) -> list[tuple[str, str]]:
    rows = Delivery.objects.filter(incident=incident, purpose="update").order_by("id")
    return list(rows.values_list("event", "recipient"))


def test_stakeholders_get_each_lifecycle_update(watched):
    erin = Actor.for_user(person("erin"))
    incident = IncidentFactory(severity="P2", services=[watched])
    incident = incident_update(incident=incident, actor=erin, severity="P1")
    incident = incident_update(incident=incident, actor=erin, severity="P3")  # lowered: no update
    sla_breach_mark(incident_id=incident.pk, now=incident.ack_due_at)
    transition(incident, "acknowledged", actor=erin)
    transition(incident, "mitigated", actor=erin, note="scaled up")
    transition(incident, "resolved", actor=erin, note="fixed the query")
    assert [event for event, _ in events(incident)[::2]] == [
        "opened",
        "severity_raised",
        "sla_breached",
        "acknowledged",
        "mitigated",
        "resolved",
    ]
    assert {recipient for _, recipient in events(incident)} == {"dave", "ops-room"}


def test_no_stakeholders_no_updates():
    incident = IncidentFactory(severity="P2")
    assert events(incident) == []


def test_a_status_update_goes_to_stakeholders_and_the_timeline(watched):
    incident = IncidentFactory(severity="P2", services=[watched])
    erin = Actor.for_user(person("erin"))
    entry, recipients = status_update_post(incident=incident, actor=erin, text="  Rolling back to 1.4.2  ")
    assert recipients == ["dave", "#ops-room"]
    assert entry.kind == "status_update" and entry.text == "Rolling back to 1.4.2"
    sent = Delivery.objects.filter(incident=incident, event="status_update")
    assert sorted(sent.values_list("recipient", flat=True)) == ["dave", "ops-room"]
    assert sent.first().message["text"] == "Rolling back to 1.4.2"
    assert TimelineEntry.objects.filter(incident=incident, kind="status_update").count() == 1


def test_a_blank_status_update_is_refused(watched):
    incident = IncidentFactory(severity="P2", services=[watched])
    with pytest.raises(DomainInputError) as refused:
        status_update_post(incident=incident, actor=Actor.system(), text="   ")
    assert "text" in refused.value.errors
    assert not Delivery.objects.filter(event="status_update").exists()
