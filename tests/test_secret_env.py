"""Which variables a target may name as its secret: ORION_TARGET_* and TARGET_SECRET_ENV, never a setting."""

import pytest

from orion_ops import env
from orion_ops.secret_env import SecretEnvRefused, secret_env_read, secret_env_refusal

# Read by orion_ops/settings.py, some of them secrets; one of each kind of helper.
SETTINGS_READ = [
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "METRICS_TOKEN",
    "ALLOWED_HOSTS",
    "DEBUG",
    "SLA_ACK_SECONDS_P0",
    "TRUSTED_PROXY_HOPS",
    "API_SCHEMA_PUBLIC",
    "TARGET_SECRET_ENV",
]


def test_orion_target_names_are_allowed_and_read(monkeypatch):
    monkeypatch.setenv("ORION_TARGET_TASK_DB_DSN", "postgresql://orion_diagnostics@db/app")
    assert secret_env_refusal("ORION_TARGET_TASK_DB_DSN") is None
    assert secret_env_read("ORION_TARGET_TASK_DB_DSN") == "postgresql://orion_diagnostics@db/app"
    assert secret_env_read("ORION_TARGET_NOT_SET_ANYWHERE") == ""


def test_other_names_are_refused_unless_listed(settings, monkeypatch):
    monkeypatch.setenv("TASK_DB_DSN", "postgresql://orion_diagnostics@db/app")
    expected = "TASK_DB_DSN is not an allowed secret variable (allowed: ORION_TARGET_* and TARGET_SECRET_ENV)"
    assert secret_env_refusal("TASK_DB_DSN") == expected
    with pytest.raises(SecretEnvRefused) as caught:
        secret_env_read("TASK_DB_DSN")
    assert caught.value.message == expected
    assert secret_env_refusal("ORION_TARGET_") is not None  # the prefix alone names nothing
    settings.TARGET_SECRET_ENV = ["TASK_DB_DSN"]
    assert secret_env_read("TASK_DB_DSN") == "postgresql://orion_diagnostics@db/app"


@pytest.mark.parametrize("name", SETTINGS_READ)
def test_settings_are_refused_even_when_listed(settings, name):
    assert name in env.settings_variables()
    assert secret_env_refusal(name).startswith(f"{name} is not an allowed secret variable")
    settings.TARGET_SECRET_ENV = [name, f"{name}_FILE"]
    for listed in (name, f"{name}_FILE"):
        assert secret_env_refusal(listed) == (
            f"{listed} is an Orion Ops setting and never an allowed secret variable, even when listed "
            "(ORION_TARGET_* and TARGET_SECRET_ENV)"
        )
        with pytest.raises(SecretEnvRefused):
            secret_env_read(listed)


@pytest.mark.parametrize(
    "name", ["EMAIL_HOST_PASSWORD", "WEBHOOK_SIGNING_SECRETS", "DJANGO_SETTINGS_MODULE", "DIAGNOSTICS_MAX_RETRIES"]
)
def test_settings_read_outside_the_helpers_or_later_are_refused_too(settings, name):
    settings.TARGET_SECRET_ENV = [name]
    assert "is an Orion Ops setting" in secret_env_refusal(name)


def test_a_new_setting_is_refused_as_soon_as_it_is_read(settings):
    settings.TARGET_SECRET_ENV = ["ORION_NEW_FEATURE_TOKEN"]
    assert secret_env_refusal("ORION_NEW_FEATURE_TOKEN") is None
    env.env_str("ORION_NEW_FEATURE_TOKEN")  # what a new line in settings.py does
    assert "is an Orion Ops setting" in secret_env_refusal("ORION_NEW_FEATURE_TOKEN")
    assert "ORION_NEW_FEATURE_TOKEN_FILE" in env.settings_variables()
