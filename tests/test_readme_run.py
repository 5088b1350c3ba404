"""The README's run command, for real: embedded SQLite, filesystem broker, worker and beat (SLA checks, reports)."""

import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.app_server import free_port

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_UNSET = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "ORION_PLAIN_STATIC", "SECRET_KEY")


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_UNSET}
    env.update(ORION_VAR_DIR=str(tmp_path / "var"), PORT=str(free_port()), SLA_CHECK_INTERVAL_SECONDS="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _wait_http(url, process, log_path, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/run exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # refused while starting, or slow while workers boot
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log_path.read_text()[-3000:]}")


def test_run_command_serves_the_dashboard_api(embedded_env, tmp_path):
    log_path = tmp_path / "run.log"
    base = f"http://127.0.0.1:{embedded_env['PORT']}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")], cwd=ROOT, env=embedded_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_http(f"{base}/healthz", process, log_path)
        output = log_path.read_text()
        login = re.search(r"Demo login: (\S+) / (\S+)", output)
        assert login, output
        assert (Path(embedded_env["ORION_VAR_DIR"]) / "orion.sqlite3").exists()

        python = str(ROOT / ".venv" / "bin" / "python")
        token = subprocess.run(
            [python, "manage.py", "create_api_token", login.group(1), "--name", "smoke"],
            cwd=ROOT, env=embedded_env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}

        response = requests.get(f"{base}/api/v1/incidents/?open=true", headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json()["count"] >= 3
        assert requests.get(f"{base}/readyz", timeout=10).json()["checks"] == {"database": "ok", "broker": "ok"}

        # Alertmanager on SQLite: a new key opens an incident (escalated by the demo's default policy),
        # the same delivery again is a repeat, a later firing attaches to it.
        am_token = subprocess.run(
            [python, "manage.py", "create_integration", "smoke-am", "--kind", "alertmanager"],
            cwd=ROOT, env=embedded_env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip

        def deliver(starts: str, fingerprint: str) -> dict:
            alert = {
                "status": "firing", "labels": {"alertname": "DiskFull", "service": "task-service"},
                "annotations": {}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                "fingerprint": fingerprint,
            }  # fmt: skip
            body = {
                "version": "4",
                "groupKey": "smoke-disk",
                "status": "firing",
                "receiver": "orion",
                "alerts": [alert],
            }
            answer = requests.post(
                f"{base}/api/v1/integrations/alertmanager/", json=body,
                headers={"Authorization": f"Bearer {am_token}"}, timeout=10,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            return answer.json()["outcomes"][0]

        opened = deliver("2026-11-28T14:00:00Z", "fp-1")
        assert opened["action"] == "opened"
        assert deliver("2026-11-28T14:00:00Z", "fp-1") == {**opened, "action": "repeat"}
        assert deliver("2026-11-28T14:05:00Z", "fp-2") == {**opened, "action": "attached"}
        url = f"{base}/api/v1/incidents/{opened['incident']}/timeline/"
        kinds = [e["kind"] for e in requests.get(url, headers=headers, timeout=10).json()["results"]]
        assert "escalation" in kinds and "alert_fired" in kinds, kinds

        # The periodic SLA job runs in embedded mode too: an overdue P0 gets its breach.
        detected = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        created = requests.post(
            f"{base}/api/v1/incidents/", json={"title": "Checkout down", "severity": "P0", "detected_at": detected},
            headers=headers, timeout=10,
        )  # fmt: skip
        assert created.status_code == 201
        url = f"{base}/api/v1/incidents/{created.json()['id']}/timeline/"
        deadline = time.monotonic() + 60
        kinds = []
        while time.monotonic() < deadline:
            kinds = [e["kind"] for e in requests.get(url, headers=headers, timeout=10).json()["results"]]
            if "sla_breached" in kinds:
                break
            time.sleep(1)
        assert "sla_breached" in kinds, log_path.read_text()[-3000:]

        # Resolving as fixed answers at once; the worker drafts the report from the filesystem broker.
        incident = f"{base}/api/v1/incidents/{created.json()['id']}"
        resolved = requests.post(
            f"{incident}/transition/", json={"to": "resolved", "note": "failed over to the standby"},
            headers=headers, timeout=10,
        )  # fmt: skip
        assert resolved.status_code == 200, resolved.text
        deadline = time.monotonic() + 60
        report = requests.get(f"{incident}/report/", headers=headers, timeout=10)
        while report.status_code == 404 and time.monotonic() < deadline:
            time.sleep(1)
            report = requests.get(f"{incident}/report/", headers=headers, timeout=10)
        assert report.status_code == 200, log_path.read_text()[-3000:]
        assert report.json()["status"] == "draft" and "failed over to the standby" in report.json()["resolution"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
