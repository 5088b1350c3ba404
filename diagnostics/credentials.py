"""A target's secrets, read for one use and handed to its collector alongside the target; never stored.

A target names the environment variable that holds each of its secrets (every
``*_env`` key: ``dsn_env``, ``auth_header_env``). The engine, and the
mitigation's connection check, read them here, through the allow-list of
``orion_ops.secret_env`` (a target saved before that rule may still name
``SECRET_KEY``), and pass them to the collector by the key's stem (``dsn``,
``auth_header``). Collectors never read the environment.
"""

from collections.abc import Mapping

from diagnostics.collectors.base import ConfigurationError, Secrets
from orion_ops.secret_env import SecretEnvRefused, secret_env_read


def target_secrets(config: Mapping, *, where: str = "on this worker") -> Secrets:
    """The values of the variables ``config`` names, by stem. ConfigurationError when one is refused or unset.

    ``where`` says which process lacks an unset variable (the workers and the web process have their own
    environments).
    """
    secrets = {}
    for key, name in sorted(config.items()):
        if not key.endswith("_env") or not name:
            continue
        try:
            value = secret_env_read(name)
        except SecretEnvRefused as exc:
            raise ConfigurationError(f"{key}: {exc.message}") from None
        if not value:
            raise ConfigurationError(f"environment variable {name} is not set {where}")
        secrets[key.removesuffix("_env")] = value
    return secrets
