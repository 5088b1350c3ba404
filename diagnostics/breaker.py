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


class RedisOrMemoryStorage(pybreaker.CircuitBreakerStorage):
    """Circuit state in Redis, or in this process's memory while Redis is unreachable.

    Every read and write goes to Redis first; on a ``redis.RedisError`` it goes to a
    per-process memory storage instead, so a Redis outage degrades the circuit to
    per-worker bookkeeping rather than failing the diagnostic run that consults it.
    """

    _memory: dict[str, pybreaker.CircuitMemoryStorage] = {}

    def __init__(self, client: redis.Redis, namespace: str):
        super().__init__("redis-or-memory")
        self._namespace = namespace
        self._fallback = self._memory.setdefault(namespace, pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED))
        try:
            self._redis = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=namespace)
        except redis.RedisError as exc:
            self._redis = None
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        log.warning("circuit %s kept in memory: Redis unreachable (%s)", self._namespace, exc)

    def _call(self, name: str, *args):
        if self._redis is not None:
            try:
                attribute = getattr(type(self._redis), name)
                if isinstance(attribute, property):
                    return attribute.fset(self._redis, *args) if args else attribute.fget(self._redis)
                return attribute(self._redis, *args)
            except redis.RedisError as exc:
                self._warn(exc)
        attribute = getattr(type(self._fallback), name)
        if isinstance(attribute, property):
            return attribute.fset(self._fallback, *args) if args else attribute.fget(self._fallback)
        return attribute(self._fallback, *args)

    @property
    def state(self) -> str:
        return self._call("state")

    @state.setter
    def state(self, state: str) -> None:
        self._call("state", state)

    def increment_counter(self) -> None:
        self._call("increment_counter")

    def reset_counter(self) -> None:
        self._call("reset_counter")

    def increment_success_counter(self) -> None:
        self._call("increment_success_counter")

    def reset_success_counter(self) -> None:
        self._call("reset_success_counter")

    @property
    def counter(self) -> int:
        return self._call("counter")

    @property
    def success_counter(self) -> int:
        return self._call("success_counter")

    @property
    def opened_at(self) -> datetime | None:
        return self._call("opened_at")

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        self._call("opened_at", now)


def _storage(target_id: int) -> pybreaker.CircuitBreakerStorage:
    # Under REDIS_KEY_PREFIX, so instances sharing one Redis keep their own circuits.
    namespace = f"{settings.REDIS_KEY_PREFIX}:{NAMESPACE}:target-{target_id}"
    url = getattr(settings, "REDIS_URL", "")
    if url:
        return RedisOrMemoryStorage(_redis_client(url), namespace)
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
