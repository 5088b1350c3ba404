import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from incidents import lifecycle, sla
from incidents.actors import Actor
from incidents.models import Incident, TimelineEntry, TimelineKind
from incidents.services import incident_update
from tests.conftest import wait_for
from tests.factories import IncidentFactory

TARGETS = {"P0": 5, "P1": 15, "P2": 60, "P3": 24 * 60}


@pytest.mark.django_db
@pytest.mark.parametrize(("severity", "minutes"), TARGETS.items())
def test_deadline_per_severity(severity, minutes):
    detected = timezone.now() - timedelta(minutes=1)
    incident = IncidentFactory(severity=severity, detected_at=detected)
    assert Incident.objects.get(pk=incident.pk).ack_due_at == detected + timedelta(minutes=minutes)


@pytest.mark.django_db
def test_severity_change_moves_the_deadline(engineer):
    detected = timezone.now() - timedelta(minutes=2)
    incident = IncidentFactory(severity="P3", detected_at=detected)
    incident_update(incident=incident, actor=Actor.for_user(engineer), severity="P1")
    incident.refresh_from_db()
    assert incident.ack_due_at == detected + timedelta(minutes=15)
    entry = incident.timeline.get(kind=TimelineKind.SEVERITY_CHANGED)
    assert (entry.data["old"], entry.data["new"]) == ("P3", "P1")
    assert entry.data["new_ack_due_at"] == incident.ack_due_at.isoformat()


@pytest.mark.django_db
def test_policy_is_overridable_in_settings(settings):
    settings.SLA_ACK_SECONDS = {**settings.SLA_ACK_SECONDS, "P2": 120}
    detected = timezone.now()
    incident = IncidentFactory(severity="P2", detected_at=detected)
    assert incident.ack_due_at == detected + timedelta(seconds=120)


@pytest.mark.django_db
def test_breach_marked_once_by_repeated_sweeps():
    overdue = IncidentFactory(severity="P0", detected_at=timezone.now() - timedelta(minutes=6))
    on_time = IncidentFactory(severity="P0", detected_at=timezone.now() - timedelta(minutes=4))
    assert sla.sla_breaches_mark() == 1
    assert sla.sla_breaches_mark() == 0
    assert TimelineEntry.objects.filter(incident=overdue, kind=TimelineKind.SLA_BREACHED).count() == 1
    assert TimelineEntry.objects.filter(incident=on_time, kind=TimelineKind.SLA_BREACHED).count() == 0
    overdue.refresh_from_db()
    assert overdue.sla_breached_at is not None


@pytest.mark.django_db
def test_acknowledged_incident_is_not_breached(engineer):
    incident = IncidentFactory(severity="P0", detected_at=timezone.now() - timedelta(minutes=30))
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    assert sla.sla_breaches_mark() == 0
    assert not TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.SLA_BREACHED).exists()


@pytest.mark.django_db
def test_raised_severity_can_cause_a_breach(engineer):
    incident = IncidentFactory(severity="P3", detected_at=timezone.now() - timedelta(minutes=20))
    assert sla.sla_breaches_mark() == 0
    incident_update(incident=incident, actor=Actor.for_user(engineer), severity="P1")
    assert sla.sla_breaches_mark() == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_sweeps_mark_each_breach_once():
    assert connection.vendor == "postgresql"
    incidents = [
        IncidentFactory(severity="P1", detected_at=timezone.now() - timedelta(minutes=16 + i)) for i in range(10)
    ]
    start = threading.Barrier(6)
    marked = []

    def sweep():
        start.wait()
        try:
            marked.append(sla.sla_breaches_mark())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(marked) == 10
    for incident in incidents:
        assert TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.SLA_BREACHED).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_task_on_a_real_worker_marks_once(celery_worker_process):
    from incidents.tasks import mark_sla_breaches

    incident = IncidentFactory(severity="P0", detected_at=timezone.now() - timedelta(minutes=10))
    results = [mark_sla_breaches.delay() for _ in range(4)]
    assert all(r.id for r in results)
    wait_for(
        lambda: Incident.objects.get(pk=incident.pk).sla_breached_at is not None,
        message="the worker to mark the breach",
    )
    # Let the other three deliveries finish too before counting.
    wait_for(lambda: _queue_drained(), message="the queue to drain")
    assert TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.SLA_BREACHED).count() == 1
    entry = TimelineEntry.objects.get(incident=incident, kind=TimelineKind.SLA_BREACHED)
    assert entry.actor_kind == "system"
    assert "P0 not acknowledged within 5 min" in entry.text


def _queue_drained() -> bool:
    from orion_ops.celery import app

    inspect = app.control.inspect(timeout=1.0)
    active = inspect.active() or {}
    reserved = inspect.reserved() or {}
    with app.connection_for_read() as conn:
        pending = conn.default_channel.client.llen("celery")
    return pending == 0 and not any(active.values()) and not any(reserved.values())
