"""The app's own PostgreSQL restarted under web servers and a worker that keep running."""

import time

import pytest
import requests

from tests.faults.processes import wait_until
from tests.incidents.intake import payloads

pytestmark = [pytest.mark.faults]


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_database_restart_is_503_fast_then_recovers(app_database, redis_server, any_fleet):
    fleet = any_fleet(redis_server, app_database.url)
    api = {"Authorization": f"Bearer {app_database.api_token}"}
    am = {"Authorization": f"Bearer {app_database.alertmanager_token}"}

    def file_incident(title: str) -> requests.Response:
        body = {"title": title, "severity": "P2", "services": ["checkout"]}
        return requests.post(f"{web.url}/api/v1/incidents/", json=body, headers=api, timeout=30)

    worker = fleet.worker(wait=False)
    web = fleet.web()
    fleet.ready()
    assert requests.get(f"{web.url}/readyz", timeout=10).status_code == 200
    assert file_incident("Before the restart").status_code == 201

    app_database.cluster.stop()
    outage = {
        "readyz": lambda: requests.get(f"{web.url}/readyz", timeout=30),
        "create": lambda: file_incident("During the restart"),
        "list": lambda: requests.get(f"{web.url}/api/v1/incidents/", headers=api, timeout=30),
        "alert": lambda: requests.post(
            f"{web.url}/api/v1/integrations/alertmanager/", json=payloads.firing(), headers=am, timeout=30
        ),
    }
    for name, call in outage.items():
        response, took = timed(call)
        assert response.status_code == 503, (name, response.status_code, response.text[:300])
        assert took < 5, f"{name} took {took:.1f} s"
        if name != "readyz":
            assert response.headers.get("Retry-After"), name
    assert requests.get(f"{web.url}/readyz", timeout=10).json()["checks"]["database"] == "down"

    app_database.cluster.start()
    wait_until(lambda: requests.get(f"{web.url}/readyz", timeout=10).status_code == 200, timeout=20, message="/readyz")
    created = wait_until(
        lambda: (r := file_incident("After the restart")).status_code == 201 and r, timeout=20, message="201"
    )
    assert requests.get(f"{web.url}/api/v1/incidents/", headers=api, timeout=10).status_code == 200
    # The same worker, never restarted, runs the new incident's diagnostics.
    incident_id = created.json()["id"]
    wait_until(
        lambda: app_database.query(
            "SELECT 1 FROM diagnostics_diagnosticrun WHERE incident_id = %s AND attached_at IS NOT NULL",
            [incident_id],
        ),
        timeout=30, interval=0.5, message="the worker to run the diagnostics after the restart",
    )  # fmt: skip
    assert worker.process.poll() is None
    titles = [row[0] for row in app_database.query("SELECT title FROM incidents_incident ORDER BY id")]
    assert titles.count("During the restart") == 0 and titles.count("After the restart") == 1
