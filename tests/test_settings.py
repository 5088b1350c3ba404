import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from orion_ops import env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("off", False), ("0", False)])
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("ORION_FLAG", value)
    assert env.env_bool("ORION_FLAG") is expected


def test_env_bool_rejects_garbage(monkeypatch):
    monkeypatch.setenv("ORION_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="ORION_FLAG"):
        env.env_bool("ORION_FLAG")


def test_env_int_rejects_garbage_and_low_values(monkeypatch):
    monkeypatch.setenv("ORION_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="ORION_N: expected an integer"):
        env.env_int("ORION_N", 1)
    monkeypatch.setenv("ORION_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("ORION_N", 5, minimum=1)


def test_file_variant_for_secrets(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("ORION_SECRET_FILE", str(secret))
    assert env.env_str("ORION_SECRET") == "s3cret"


def test_database_url_postgres_with_pool():
    db = env.database_from_url(
        "postgres://orion:p%40ss@db.internal:6432/orion?sslmode=require", pool_max_size=8, pool_timeout=5
    )
    assert (db["ENGINE"], db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "django.db.backends.postgresql", "orion", "orion", "p@ss", "db.internal", "6432",
    )  # fmt: skip
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["OPTIONS"]["pool"]["max_size"] == 8
    assert db["CONN_MAX_AGE"] == 0


def test_database_url_rejects_unknown_scheme():
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme"):
        env.database_from_url("mysql://x/y", pool_max_size=1, pool_timeout=1)


def _manage(*args, extra_env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **extra_env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        extra_env={
            "ORION_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://orion:secret@127.0.0.1:5432/orion",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "SECRET_KEY": "k" * 20 + "Q7#x!p2@Lm9$zR4&vT8*wY1^bN6(cJ3)" + "s" * 20,
            "ALLOWED_HOSTS": "orion.example.com",
            "HTTPS": "1",
            "DEBUG": "0",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_fails_loudly(tmp_path):
    result = _manage(
        "check", extra_env={"ORION_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://x@127.0.0.1/orion"}
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked(tmp_path):
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        extra_env={"ORION_VAR_DIR": str(tmp_path)},
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
