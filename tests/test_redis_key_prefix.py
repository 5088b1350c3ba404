"""Two Orion Ops instances sharing one Redis database keep out of each other's way.

Each instance is a separate process with its own REDIS_KEY_PREFIX, its cache,
broker and circuit breakers all in the same Redis database. One of them trips a
target's circuit, locks a user out and queues a task; the other sees none of it,
and every key either wrote starts with its prefix.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent

INSTANCE = r"""
import json, sys
import django
django.setup()
from django.conf import settings
from django.core.cache import cache
from diagnostics import breaker, conf
from incidents.web import throttle
from orion_ops.celery import app

def queue_depth(name):
    with app.connection_for_read() as conn:
        return conn.default_channel.client.llen(name)  # kombu's client adds the prefix

if sys.argv[1] == "disturb":
    cache.set("shared-name", settings.REDIS_KEY_PREFIX, 300)
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        throttle.failure_record("erin", "203.0.113.7")
    circuit = breaker.breaker_for(7)
    for _ in range(conf.get("BREAKER_FAIL_MAX")):
        try:
            circuit.call(lambda: 1 / 0)
        except Exception:
            pass
    app.send_task("orion.shared_redis_probe", queue="diagnostics")

print(json.dumps({
    "prefix": settings.REDIS_KEY_PREFIX,
    "cache": cache.get("shared-name"),
    "locked_out": throttle.lockout_for("erin", "203.0.113.7") is not None,
    "circuit": breaker.breaker_for(7).current_state,
    "queued": queue_depth("diagnostics"),
}))
"""


def run_instance(action: str, shared_url: str, **env) -> dict:
    environment = {**os.environ, "CELERY_BROKER_URL": shared_url, "REDIS_URL": shared_url, **env}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", INSTANCE, action],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def shared_url():
    """The test Redis database, emptied of whatever these instances wrote before."""
    url = os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url)
    yield url
    for key in client.scan_iter(match="shared-*"):
        client.delete(key)


def test_two_instances_with_different_prefixes_do_not_disturb_each_other(shared_url):
    run = uuid.uuid4().hex[:8]
    staging, production = f"shared-{run}-staging", f"shared-{run}-production"
    client = redis.Redis.from_url(shared_url)
    before = set(client.scan_iter())

    disturbed = run_instance("disturb", shared_url, REDIS_KEY_PREFIX=staging)
    bystander = run_instance("look", shared_url, REDIS_KEY_PREFIX=production)

    assert disturbed == {"prefix": staging, "cache": staging, "locked_out": True, "circuit": "open", "queued": 1}
    assert bystander == {"prefix": production, "cache": None, "locked_out": False, "circuit": "closed", "queued": 0}

    # Every key either wrote (cache, throttle, breaker, queue, kombu's bindings) is under its prefix.
    written = sorted(key.decode() for key in set(client.scan_iter()) - before)
    assert written, "the instances wrote nothing to Redis"
    assert all(key.startswith((f"{staging}:", f"{production}:")) for key in written), written
    assert client.llen(f"{staging}:diagnostics") == 1, written


def test_the_default_prefix_follows_the_database_name(shared_url):
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_KEY_PREFIX"}
    base = environment["DATABASE_URL"].rsplit("/", 1)[0]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.REDIS_KEY_PREFIX, s.CACHES['default']['KEY_PREFIX'], "
            "s.CELERY['broker_transport_options']['global_keyprefix'])",
        ],
        cwd=ROOT,
        env={**environment, "DATABASE_URL": f"{base}/orion_staging", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["orion:orion_staging", "orion:orion_staging", "orion:orion_staging:"]
