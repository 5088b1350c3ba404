"""A circuit breaker per target, its state shared by every worker.

pybreaker keeps the state machine (closed → open after ``BREAKER_FAIL_MAX``
consecutive failures → half-open after ``BREAKER_RESET_SECONDS`` → one trial
run). Its state lives in Redis (``settings.REDIS_URL``, keys under
``settings.REDIS_KEY_PREFIX``) so all workers see the same circuit; the embedded
mode has no Redis and keeps it in Django's cache. While Redis cannot be reached,
each worker keeps the circuit in its own memory: a run must never fail, or be
left claimed and unfinished, because the breaker's bookkeeping could not be saved.
"""

import logging
from datetime import UTC, datetime
from functools import cache

import pybreaker
import redis
from django.conf import settings
from django.core.cache import caches

from diagnostics import conf
from diagnostics.collectors.base import CollectorError

NAMESPACE = "diagnostics:breaker"

log = logging.getLogger(__name__)


class DjangoCacheStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker state in a Django cache, for deployments without Redis."""

    def __init__(self, namespace: str, cache_alias: str = "default"):
        super().__init__("django-cache")
        self._cache = caches[cache_alias]
        self._namespace = namespace
        self._cache.add(self._key("state"), pybreaker.STATE_CLOSED, timeout=None)

    def _key(self, name: str) -> str:
        return f"{self._namespace}:{name}"

    def _incr(self, name: str) -> None:
        try:
            self._cache.incr(self._key(name))
        except ValueError:
            self._cache.set(self._key(name), 1, timeout=None)

    @property
    def state(self) -> str:
        return self._cache.get(self._key("state"), pybreaker.STATE_CLOSED)

    @state.setter
    def state(self, state: str) -> None:
        self._cache.set(self._key("state"), str(state), timeout=None)

    def increment_counter(self) -> None:
        self._incr("fail_counter")

    def reset_counter(self) -> None:
        self._cache.set(self._key("fail_counter"), 0, timeout=None)

    def increment_success_counter(self) -> None:
        self._incr("success_counter")

    def reset_success_counter(self) -> None:
        self._cache.set(self._key("success_counter"), 0, timeout=None)

    @property
    def counter(self) -> int:
        return int(self._cache.get(self._key("fail_counter"), 0))

    @property
    def success_counter(self) -> int:
        return int(self._cache.get(self._key("success_counter"), 0))

    @property
    def opened_at(self) -> datetime | None:
        stamp = self._cache.get(self._key("opened_at"))
        return datetime.fromtimestamp(stamp, tz=UTC) if stamp else None

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        self._cache.set(self._key("opened_at"), now.timestamp(), timeout=None)


@cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


# Per-process circuits, used while Redis cannot be reached (one per namespace, kept across calls).
_MEMORY: dict[str, pybreaker.CircuitMemoryStorage] = {}


def _storage(target_id: int) -> pybreaker.CircuitBreakerStorage:
    # Under REDIS_KEY_PREFIX, so instances sharing one Redis keep their own circuits.
    namespace = f"{settings.REDIS_KEY_PREFIX}:{NAMESPACE}:target-{target_id}"
    url = getattr(settings, "REDIS_URL", "")
    if url:
        try:
            # pybreaker's Redis storage answers "closed" on its own when a later read fails; only setting
            # up the keys raises, and then this worker keeps the circuit in its memory.
            return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, _redis_client(url), namespace=namespace)
        except redis.RedisError as exc:
            log.warning("circuit %s kept in memory: Redis unreachable (%s)", namespace, exc)
            return _MEMORY.setdefault(namespace, pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED))
    return DjangoCacheStorage(namespace)


def _not_the_targets_fault(exc: BaseException) -> bool:
    return isinstance(exc, CollectorError) and not exc.counts_against_target


def breaker_for(target_id: int) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        fail_max=conf.get("BREAKER_FAIL_MAX"),
        reset_timeout=conf.get("BREAKER_RESET_SECONDS"),
        state_storage=_storage(target_id),
        name=f"target-{target_id}",
        exclude=[_not_the_targets_fault],
        # The run that trips the circuit keeps its own error; later ones get CircuitBreakerError.
        throw_new_error_on_trip=False,
    )


def trial_at(target_id: int) -> datetime | None:
    """When an open circuit on this target lets the next trial run through."""
    opened = _storage(target_id).opened_at
    if opened is None:
        return None
    return datetime.fromtimestamp(opened.timestamp() + conf.get("BREAKER_RESET_SECONDS"), tz=UTC)
