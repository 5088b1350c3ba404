"""LOG_FORMAT=json: one JSON object per line with its context, and no secret in any line.

Secrets are planted the ways they reach a process (settings, DSN passwords,
ORION_TARGET_* and TARGET_SECRET_ENV variables, the SMTP password, webhook
secrets, API tokens), then requests and a Celery task make the web server and a
worker log; every line of both is parsed and searched for every planted value.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings

from incidents.tokens import api_token_create
from tests.app_server import AppServer
from tests.conftest import ROOT, wait_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def planted() -> dict[str, str]:
    mark = uuid.uuid4().hex[:10]
    return {
        "secret_key": f"planted-secret-key-{mark}",
        "metrics_token": f"planted-metrics-{mark}",
        "db_password": f"planted-dbpw-{mark}",
        "target_password": f"planted-target-{mark}",
        "vendor_key": f"planted-vendor-{mark}",
        "smtp_password": f"planted-smtp-{mark}",
        "webhook_secret": f"planted-webhook-{mark}",
    }


def environment(secrets: dict[str, str]) -> dict[str, str]:
    url = urlsplit(os.environ["DATABASE_URL"])
    host = f"{url.username or 'postgres'}:{secrets['db_password']}@{url.hostname}:{url.port or 5432}"
    database_url = urlunsplit((url.scheme, host, f"/{settings.DATABASES['default']['NAME']}", url.query, ""))
    return {
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets["secret_key"],
        "METRICS_TOKEN": secrets["metrics_token"],
        "ORION_TARGET_TASK_DB_DSN": f"postgres://orion_ro:{secrets['target_password']}@db.invalid:5432/tasks",
        "TARGET_SECRET_ENV": "VENDOR_API_KEY",
        "VENDOR_API_KEY": secrets["vendor_key"],
        "EMAIL_HOST_PASSWORD": secrets["smtp_password"],
        "WEBHOOK_SIGNING_SECRETS": secrets["webhook_secret"],
    }


def events(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line[:300]}")
    return parsed


def assert_no_secret(text: str, values) -> None:
    leaks = [value for value in values if value in text]
    assert not leaks, f"secrets in the log: {leaks}"


def test_web_logs_are_json_lines_with_request_and_incident_ids_and_no_secrets(tmp_path):
    secrets = planted()
    user = UserFactory(username="logan", role="engineer")
    _, raw_token = api_token_create(user=user, name="logs")
    missing_id = 987654
    log_path = tmp_path / "gunicorn.log"

    with AppServer(environment(secrets), log_path, args=("-c", str(ROOT / "deploy" / "gunicorn.conf.py"))) as server:
        auth = {"Authorization": f"Bearer {raw_token}"}
        # An incident that is not there: Django logs the 404 with the incident id.
        missing = requests.get(
            f"{server.url}/api/v1/incidents/{missing_id}/",
            headers={**auth, "X-Request-ID": "req-missing-incident"},
            timeout=10,
        )
        # A token in a query string (gunicorn's access log prints the request line).
        listed = requests.get(f"{server.url}/api/v1/incidents/?api_key={raw_token}", headers=auth, timeout=10)
        # Secrets sent where they do not belong: a bearer that is the metrics token, a username that is a password.
        refused = requests.get(
            f"{server.url}/api/v1/incidents/",
            headers={"Authorization": f"Bearer {secrets['metrics_token']}"},
            timeout=10,
        )
        session = requests.Session()
        session.get(f"{server.url}/accounts/login/", timeout=10)
        signin = session.post(
            f"{server.url}/accounts/login/",
            data={
                "username": secrets["smtp_password"],
                "password": secrets["vendor_key"],
                "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
            },
            headers={"Referer": f"{server.url}/accounts/login/"},
            timeout=10,
        )
        metrics = requests.get(f"{server.url}/metrics?token={secrets['metrics_token']}", timeout=10)

    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "req-missing-incident"
    assert listed.status_code == 200
    assert refused.status_code == 401
    assert signin.status_code == 200  # the form again, with its error
    assert metrics.status_code == 401
    assert len(listed.headers["X-Request-ID"]) == 32

    text = log_path.read_text()
    lines = events(text)
    assert_no_secret(text, [*secrets.values(), raw_token])
    assert all({"time", "level", "logger", "message"} <= set(event) for event in lines)

    tagged = [e for e in lines if e.get("request_id") == "req-missing-incident"]
    (not_found,) = [e for e in tagged if e["logger"] == "django.request"]
    assert not_found["level"] == "WARNING" and "Not Found" in not_found["message"]
    assert not_found["incident_id"] == str(missing_id)
    # The access log keeps the request line, not the token in it.
    assert any("?api_key=[redacted]" in e["message"] for e in lines if e["logger"] == "gunicorn.access")
    assert any("failed sign-in: username='[redacted]'" in e["message"] for e in lines)


def test_worker_logs_are_json_lines_with_task_ids_and_no_secrets(tmp_path):
    secrets = planted()
    env = {
        **os.environ,
        **environment(secrets),
        "PYTHONPATH": str(ROOT),
        "REDIS_KEY_PREFIX": f"logs-{uuid.uuid4().hex}",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "orion_ops", "worker", "-Q", "celery",
                "--concurrency", "1", "--pool", "solo", "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            # The task is sent by another process with the same settings, as the web would.
            sender = subprocess.run(
                [
                    sys.executable, "-c",
                    "import django; django.setup(); from orion_ops.celery import app; "
                    "print(app.send_task('incidents.tasks.mark_sla_breaches').id)",
                ],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            task_id = sender.stdout.strip().splitlines()[-1]
            wait_for(
                lambda: task_id in log_path.read_text() and "succeeded" in log_path.read_text(),
                timeout=90,
                interval=0.5,
                message="the worker to run the task",
            )
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
    time.sleep(0.1)

    text = log_path.read_text()
    # Celery's start-up banner is printed, not logged; every logged line is JSON.
    logged = "\n".join(line for line in text.splitlines() if line.startswith("{"))
    lines = events(logged)
    assert_no_secret(text, secrets.values())
    ran = [e for e in lines if e.get("task_id") == task_id]
    assert ran, "no line carries the task id"
    assert {e["task"] for e in ran} == {"incidents.tasks.mark_sla_breaches"}
