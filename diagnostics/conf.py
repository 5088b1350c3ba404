"""Diagnostics settings: defaults here, overridable by Django settings or the environment.

Each value is looked up when it is used, in this order: a Django setting named
``DIAGNOSTICS_<NAME>``, an environment variable of the same name (read with the
typed helpers of ``orion_ops.env``, so ``NAME_FILE`` works and bad values fail
loudly), then the default below. Reading late lets a worker and a web process
share one definition, and lets tests override a value with the ``settings``
fixture.
"""

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from orion_ops.env import env_bool, env_int, env_str

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
    "REAP_INTERVAL_SECONDS": 60,
    # PostgreSQL collector: time limits and connection
    "POSTGRES_SOFT_TIME_LIMIT": 60,
    "POSTGRES_TIME_LIMIT": 90,
    "POSTGRES_CONNECT_TIMEOUT": 5,
    "POSTGRES_STATEMENT_TIMEOUT_MS": 5000,
    # PostgreSQL collector: thresholds (PgHero, check_postgres, awesome-prometheus-alerts)
    "POSTGRES_CONNECTIONS_WARN_PERCENT": 80.0,
    "POSTGRES_CONNECTIONS_CRIT_PERCENT": 90.0,
    "POSTGRES_IDLE_IN_TRANSACTION_WARN_SECONDS": 60,
    "POSTGRES_IDLE_IN_TRANSACTION_CRIT_SECONDS": 600,
    "POSTGRES_LONG_QUERY_WARN_SECONDS": 60,
    "POSTGRES_LONG_QUERY_CRIT_SECONDS": 300,
    "POSTGRES_LOCK_WAIT_CRIT_SECONDS": 30,
    "POSTGRES_SLOW_QUERY_MEAN_MS": 20.0,
    "POSTGRES_SLOW_QUERY_MIN_CALLS": 100,
    "POSTGRES_SLOW_QUERY_CRIT_MEAN_MS": 1000.0,
    "POSTGRES_MISSING_INDEX_MIN_ROWS": 10000,
    "POSTGRES_MISSING_INDEX_MIN_SEQ_SCANS": 10,
    "POSTGRES_MISSING_INDEX_MAX_INDEX_USAGE_PERCENT": 95.0,
    "POSTGRES_UNUSED_INDEX_MIN_BYTES": 1024 * 1024,
    "POSTGRES_CACHE_HIT_WARN_PERCENT": 99.0,
    "POSTGRES_CACHE_HIT_CRIT_PERCENT": 90.0,
    "POSTGRES_CACHE_HIT_MIN_BLOCKS": 1000,
    "POSTGRES_BLOAT_WARN_PERCENT": 50.0,
    "POSTGRES_BLOAT_MIN_BYTES": 100 * 1024 * 1024,
    "POSTGRES_DEAD_TUPLES_MIN": 10000,
    "POSTGRES_DEAD_TUPLES_WARN_PERCENT": 20.0,
    "POSTGRES_XID_AGE_WARN": 1_200_000_000,
    "POSTGRES_XID_AGE_CRIT": 1_500_000_000,
    "POSTGRES_SEQUENCE_WARN_PERCENT": 75.0,
    "POSTGRES_SEQUENCE_CRIT_PERCENT": 90.0,
    "POSTGRES_LARGEST_TABLES": 5,
    "POSTGRES_QUERY_TEXT_CHARS": 300,
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


@dataclass(frozen=True)
class PostgresThresholds:
    connections_warn_percent: float
    connections_crit_percent: float
    idle_in_transaction_warn_seconds: int
    idle_in_transaction_crit_seconds: int
    long_query_warn_seconds: int
    long_query_crit_seconds: int
    lock_wait_crit_seconds: int
    slow_query_mean_ms: float
    slow_query_min_calls: int
    slow_query_crit_mean_ms: float
    missing_index_min_rows: int
    missing_index_min_seq_scans: int
    missing_index_max_index_usage_percent: float
    unused_index_min_bytes: int
    cache_hit_warn_percent: float
    cache_hit_crit_percent: float
    cache_hit_min_blocks: int
    bloat_warn_percent: float
    bloat_min_bytes: int
    dead_tuples_min: int
    dead_tuples_warn_percent: float
    xid_age_warn: int
    xid_age_crit: int
    sequence_warn_percent: float
    sequence_crit_percent: float
    largest_tables: int
    query_text_chars: int

    @classmethod
    def from_settings(cls, **overrides) -> "PostgresThresholds":
        values = {f.name: get(f"POSTGRES_{f.name.upper()}") for f in fields(cls)}
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class TimeLimits:
    soft: int
    hard: int


def time_limits(collector: str, *, soft_default: int = 60, hard_default: int = 90) -> TimeLimits:
    """Soft and hard Celery time limits for one collector's runs, in seconds.

    ``DIAGNOSTICS_<COLLECTOR>_SOFT_TIME_LIMIT`` / ``DIAGNOSTICS_<COLLECTOR>_TIME_LIMIT``
    override the collector's own defaults.
    """
    prefix = collector.upper()
    return TimeLimits(
        soft=get(f"{prefix}_SOFT_TIME_LIMIT", soft_default), hard=get(f"{prefix}_TIME_LIMIT", hard_default)
    )
