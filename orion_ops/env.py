"""Typed readers for environment variables.

Every setting comes from the environment. A malformed value stops the process
at start-up with a message naming the variable, rather than surfacing later as
odd behaviour. ``NAME_FILE`` is accepted wherever ``NAME`` is, so secrets can be
mounted as files (Docker and Kubernetes secrets).
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Every name the helpers below were asked for: the variables Orion Ops reads as
# its own settings. Configuration that names a variable to read as a secret
# (a target's ``dsn_env``) may never name one of these (orion_ops.secret_env).
_SETTINGS_READ: set[str] = set()


def settings_variables() -> frozenset[str]:
    """The variables read through these helpers so far, with their ``NAME_FILE`` variants."""
    names = set(_SETTINGS_READ)
    return frozenset(names | {f"{name}_FILE" for name in names})


def _raw(name: str) -> str | None:
    _SETTINGS_READ.add(name)
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            with open(file_name, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, *, pool_max_size: int, pool_timeout: int) -> dict:
    """Django DATABASES entry for a ``postgres://`` or ``sqlite:///`` URL."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        if pool_max_size > 0:
            options["pool"] = {
                "min_size": 1,
                "max_size": pool_max_size,
                "timeout": pool_timeout,
            }
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "OPTIONS": options,
            # A pool and persistent connections are exclusive in Django.
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": pool_max_size == 0,
        }
    if parsed.scheme == "sqlite":
        return sqlite_database(unquote(parsed.path))
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parsed.scheme!r}; use postgres:// or sqlite:///")


def redis_key_prefix_for(database: dict) -> str:
    """The default REDIS_KEY_PREFIX: ``orion:`` and the database's name (a SQLite file's stem)."""
    name = str(database["NAME"])
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(name).stem
    return f"orion:{name}"


def sqlite_database(path: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # The web process and the worker write to the same file: WAL lets
            # readers proceed during a write and IMMEDIATE avoids deadlocks on
            # lock upgrades.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
