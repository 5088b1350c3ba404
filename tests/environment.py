"""Loaded with ``-p tests.environment`` before Django starts: the test environment.

Tests run against the real services on this machine: PostgreSQL on
127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/test starts them).
Override with TEST_DATABASE_URL / TEST_REDIS_URL.
"""

import os
import tempfile

_var = tempfile.mkdtemp(prefix="orion-test-var-")
os.makedirs(os.path.join(_var, "static"), exist_ok=True)

os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orion")
os.environ["CELERY_BROKER_URL"] = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ["ORION_VAR_DIR"] = _var
# The test run and the workers it starts (on the test database, whose name differs) share one prefix.
os.environ.setdefault("REDIS_KEY_PREFIX", "orion-test")
os.environ["SECRET_KEY"] = "test-secret-key-not-for-production-0123456789abcdef"
os.environ["ORION_PLAIN_STATIC"] = "1"
os.environ["DEBUG"] = "0"
os.environ["HTTPS"] = "0"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
