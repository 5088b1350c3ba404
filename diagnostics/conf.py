"""Diagnostics configuration: every knob of the engine, the collectors and mitigations, in one place.

Each value is looked up when it is used, in this order: a Django setting named
``DIAGNOSTICS_<NAME>``, an environment variable of the same name (read with the
typed helpers of ``orion_ops.env``, so ``NAME_FILE`` works and bad values fail
loudly), then the default. Reading late lets a worker and a web process share
one definition, and lets tests override a value with the ``settings`` fixture.

The engine's and the mitigations' knobs have their defaults in ``DEFAULTS``
below. A collector's thresholds and limits are the fields of its frozen
configuration dataclass (``PostgresConfig``, ``PrometheusConfig``,
``KubernetesConfig``), declared with the collector so that the collectors
import nothing of Django or Orion Ops; ``collector_config(kind)`` fills one
from ``DIAGNOSTICS_<KIND>_<FIELD>`` and the engine passes it to the
collector, which never reads a setting itself. docs/diagnostics.md lists
every knob.
"""

from dataclasses import dataclass, fields, replace

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from diagnostics.collectors import collector_class
from diagnostics.collectors.base import CollectorConfig
from diagnostics.collectors.kubernetes import KubernetesConfig, request_timeout
from diagnostics.collectors.postgres import PostgresConfig
from diagnostics.collectors.prometheus import PrometheusConfig
from orion_ops.env import env_bool, env_int, env_str

__all__ = [
    "KubernetesConfig",
    "PostgresConfig",
    "PrometheusConfig",
    "collector_config",
    "get",
    "kubernetes_timeout",
    "time_limits",
]

DEFAULTS: dict[str, int | float | bool] = {
    # Engine
    "DEBOUNCE_SECONDS": 120,  # automatic runs for one target share a run started this recently
    "LOOKBACK_SECONDS": 900,  # the window starts this long before the incident was detected
    "MAX_RETRIES": 3,  # retries of transient failures (connection refused, timeouts)
    "RETRY_BACKOFF_SECONDS": 2,  # first retry after up to this long; doubles each time (full jitter)
    "RETRY_BACKOFF_MAX_SECONDS": 60,
    "BREAKER_FAIL_MAX": 5,  # consecutive failed attempts on one target before its circuit opens
    "BREAKER_RESET_SECONDS": 60,  # how long an open circuit fails fast before one trial run
    "STALE_GRACE_SECONDS": 60,  # a run still running this long after its hard limit is reaped
    "QUEUED_MAX_SECONDS": 3600,  # a run never picked up within this is failed
    "REQUEUE_SECONDS": 120,  # a run not picked up within this is sent to the broker again
    "REAP_INTERVAL_SECONDS": 60,
    # Mitigations
    "MITIGATION_MAX_REPLICAS": 50,
    "MITIGATION_SOFT_TIME_LIMIT": 45,
    "MITIGATION_TIME_LIMIT": 60,
    # A confirmed action not started within this long is not run: the situation it was meant for may be over.
    "MITIGATION_EXPIRES_SECONDS": 300,
    "MITIGATION_STALE_GRACE_SECONDS": 60,
    # The safety check reads the database from the web request: it must answer fast or be skipped.
    "MITIGATION_POSTGRES_CONNECT_TIMEOUT": 3,
    "MITIGATION_POSTGRES_STATEMENT_TIMEOUT_MS": 2000,
}


def _env_float(name: str, default: float) -> float:
    raw = env_str(name, "")
    if raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None


def get(name: str, default=None):
    """The current value of ``DIAGNOSTICS_<name>`` (``default`` for names without an entry in DEFAULTS)."""
    default = DEFAULTS.get(name, default)
    if default is None:
        raise KeyError(f"DIAGNOSTICS_{name} has no default")
    full = f"DIAGNOSTICS_{name}"
    if hasattr(settings, full):
        return getattr(settings, full)
    if isinstance(default, bool):
        return env_bool(full, default)
    if isinstance(default, int):
        return env_int(full, default, minimum=0)
    return _env_float(full, default)


def collector_config(kind: str, **overrides) -> CollectorConfig:
    """The thresholds and limits of the ``kind`` collector, each field from ``DIAGNOSTICS_<KIND>_<FIELD>``."""
    cls = collector_class(kind)
    if cls is None:
        raise KeyError(f"no collector for {kind} targets")
    config_class = cls.config_class
    values = {f.name: get(f"{kind.upper()}_{f.name.upper()}", f.default) for f in fields(config_class)}
    return replace(config_class(**values), **overrides)


def kubernetes_timeout(target_config) -> tuple[float, float]:
    """(connect, read) timeout of every call to a Kubernetes target's API server, collector's or action's."""
    return request_timeout(target_config, collector_config("kubernetes"))


@dataclass(frozen=True)
class TimeLimits:
    soft: int
    hard: int


def time_limits(task: str, *, soft_default: int = 60, hard_default: int = 90) -> TimeLimits:
    """Soft and hard Celery time limits of one collector's runs (or of ``mitigation``), in seconds.

    ``DIAGNOSTICS_<TASK>_SOFT_TIME_LIMIT`` / ``DIAGNOSTICS_<TASK>_TIME_LIMIT``
    override the defaults.
    """
    prefix = task.upper()
    return TimeLimits(
        soft=get(f"{prefix}_SOFT_TIME_LIMIT", soft_default), hard=get(f"{prefix}_TIME_LIMIT", hard_default)
    )
