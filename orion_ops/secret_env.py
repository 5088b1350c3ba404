"""Which environment variables configuration may name as a secret to read.

A diagnostic target names the variable that holds its secret (``dsn_env``,
``auth_header_env``: every ``*_env`` key), and the process running it sends the
value to the target's host. So that a typo, or a row written before this rule,
cannot send Orion Ops' own secrets elsewhere, a name must match
``ORION_TARGET_*`` or be listed in ``TARGET_SECRET_ENV``, and it may never be one
of the variables Orion Ops reads as a setting (``SECRET_KEY``, ``DATABASE_URL``,
…, and their ``_FILE`` variants), even when listed.

The rule is checked when targets are validated (``sync_services``, the admin)
and again whenever a secret is read.
"""

import os

from django.conf import settings

from orion_ops.env import settings_variables

PREFIX = "ORION_TARGET_"
ALLOWED = "ORION_TARGET_* and TARGET_SECRET_ENV"

# Read by Django, Celery or the process itself rather than through
# orion_ops.env, or secrets of settings that may not be read in every process.
_ALWAYS_SETTINGS = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "REDIS_URL",
        "METRICS_TOKEN",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "WEBHOOK_SIGNING_SECRETS",
        "TARGET_SECRET_ENV",
        "DJANGO_SETTINGS_MODULE",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)
# diagnostics.conf reads DIAGNOSTICS_<NAME> when a value is first used, so a
# process may not have read them all yet.
_SETTINGS_PREFIXES = ("DIAGNOSTICS_",)


class SecretEnvRefused(Exception):
    """A target names a variable it may not read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_setting(name: str) -> bool:
    base = name.removesuffix("_FILE")
    return name in settings_variables() or base in _ALWAYS_SETTINGS or name.startswith(_SETTINGS_PREFIXES)


def secret_env_refusal(name: str) -> str | None:
    """Why configuration may not name ``name`` as a secret, or None when it may."""
    listed = (name.startswith(PREFIX) and len(name) > len(PREFIX)) or name in settings.TARGET_SECRET_ENV
    if not listed:
        return f"{name} is not an allowed secret variable (allowed: {ALLOWED})"
    if is_setting(name):
        return f"{name} is an Orion Ops setting and never an allowed secret variable, even when listed ({ALLOWED})"
    return None


def secret_env_read(name: str) -> str:
    """The value of ``name`` ("" when unset); SecretEnvRefused when configuration may not read it."""
    refusal = secret_env_refusal(name)
    if refusal:
        raise SecretEnvRefused(refusal)
    return os.environ.get(name, "")
