"""End to end with a real Celery worker: a P1 pages by webhook within seconds, retries a 500, and a
worker killed mid-send leaves exactly one delivered row (the redelivered task finishes it)."""

import os
import signal

import pytest

from incidents.models import TimelineEntry
from incidents.paging.models import Delivery, DeliveryAttempt
from orion_ops.celery import app
from tests.conftest import wait_for
from tests.factories import IncidentFactory
from tests.paging.helpers import person, policy

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _child_sending(delivery_id: int) -> int | None:
    for tasks in (app.control.inspect(timeout=1.0).active() or {}).values():
        for task in tasks:
            if task["name"] == "incidents.paging.tasks.deliver" and str(delivery_id) in str(task["args"]):
                return task["worker_pid"]
    return None


def test_a_p1_pages_the_on_call_and_a_500_is_retried(celery_worker_process, receiver):
    receiver.script = [(500, 0)]
    policy("default", {"users": [person("alice", ("webhook", receiver.url))]})
    incident = IncidentFactory(severity="P1")
    delivery = wait_for(
        lambda: Delivery.objects.filter(incident=incident, status="delivered").first(),
        timeout=30,
        message="the page to be delivered",
    )
    assert [r.answered for r in receiver.received] == [500, 200]
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [500, 200]
    assert (
        TimelineEntry.objects.filter(incident=incident, kind="page", text="Page delivered to alice by webhook").count()
        == 1
    )


def test_a_worker_killed_mid_send_ends_with_one_delivered_row(celery_worker_process, receiver):
    receiver.script = [(200, 6)]  # the first request hangs long enough to kill the worker under it
    policy("default", {"users": [person("alice", ("webhook", receiver.url))]})
    incident = IncidentFactory(severity="P1")
    delivery = wait_for(lambda: Delivery.objects.filter(incident=incident).first(), message="the outbox row")
    wait_for(lambda: receiver.received, message="the first request")
    child = wait_for(lambda: _child_sending(delivery.pk), message="the pool child sending it")
    os.kill(child, signal.SIGKILL)
    delivery = wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="delivered").first(),
        timeout=60,
        message="the redelivered task to finish it",
    )
    assert delivery.attempts == 2  # the killed claim, then the redelivery's
    assert DeliveryAttempt.objects.filter(delivery=delivery, ok=True).count() == 1
    assert Delivery.objects.filter(incident=incident).count() == 1
    # Every request carries the same delivery id: a receiver that saw the killed one drops the repeat.
    assert {r.headers["X-Orion-Delivery"] for r in receiver.received} == {str(delivery.pk)}
    assert TimelineEntry.objects.filter(incident=incident, kind="page", text__startswith="Page delivered").count() == 1
