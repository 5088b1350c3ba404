"""Resolving answers at once: the report is drafted afterwards by a worker, with no lock held while Prometheus is asked.

Prometheus here is a loopback socket that accepts and never answers, the worst case for the impact queries.
"""

import socket
import threading
import time

import pytest
from django.db import connection

from diagnostics.impact import TIMEOUT as IMPACT_QUERY_TIMEOUT
from diagnostics.models import Target
from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Report
from tests.conftest import wait_for
from tests.factories import IncidentFactory, ServiceFactory


class HangingServer:
    """Accepts TCP connections and never answers; counts who connected."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted += 1

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def hanging_prometheus():
    server = HangingServer()
    yield server
    server.close()


def incident_lockable(incident_id: int) -> bool:
    """True when nobody holds the incident's row lock (NOWAIT fails at once otherwise)."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            Incident.objects.select_for_update(nowait=True).get(pk=incident_id)
    except DatabaseError:
        return False
    return True


def transactions_left_open() -> list[str]:
    """Other sessions sitting inside a transaction after reading incidents or targets (the drafter, if it
    waited for Prometheus inside one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%' "
            "AND (query LIKE '%%incidents_%%' OR query LIKE '%%diagnostics_target%%')"
        )
        return [f"{state}: {query}" for state, query in cursor.fetchall()]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_resolve_returns_before_prometheus_answers_and_the_report_follows(
    celery_worker_process, hanging_prometheus, engineer, engineer_client
):
    service = ServiceFactory(slug="checkout")
    incident = IncidentFactory(title="Checkout 5xx", severity="P1", services=[service])
    # Added after filing, so no diagnostic run asks the hanging server: only the report's impact does.
    Target.objects.create(
        service=service, kind="prometheus", name="checkout-metrics",
        config={"url": f"http://127.0.0.1:{hanging_prometheus.port}", "labels": {"service": "checkout"}},
    )  # fmt: skip
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer), note="on it")

    started = time.monotonic()
    response = engineer_client.post(
        f"/incidents/{incident.pk}/transition/",
        {"to": "resolved", "resolution": "fixed", "note": "rolled back the deploy", "expected_status": "acknowledged"},
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < IMPACT_QUERY_TIMEOUT / 2, f"resolving took {elapsed:.1f} s: it waited for Prometheus"
    assert Incident.objects.get(pk=incident.pk).status == "resolved"

    # The worker is now waiting on Prometheus: the page says the report is coming, the incident stays free.
    wait_for(lambda: hanging_prometheus.accepted >= 1, message="the worker to ask Prometheus")
    assert not Report.objects.filter(incident=incident).exists()
    page = engineer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Drafting the report…" in page
    assert incident_lockable(incident.pk), "the incident's row is locked while Prometheus is asked"
    assert transactions_left_open() == []

    report = wait_for(
        lambda: Report.objects.filter(incident=incident).first(),
        timeout=IMPACT_QUERY_TIMEOUT * 8,
        message="the worker to draft the report",
    )
    assert "Prometheus could not be queried" in report.impact
    assert "1. rolled back the deploy" in report.resolution
    assert "Drafting the report…" not in engineer_client.get(f"/incidents/{incident.pk}/").content.decode()
