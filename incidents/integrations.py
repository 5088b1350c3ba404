"""Integrations: monitoring systems that file incidents, each with its own token and rules."""

import hmac
import secrets
import threading
import time

from django.utils import timezone

from incidents.models import Integration
from incidents.tokens import token_digest

INTEGRATION_PREFIX = "oi_"

# Intake looks an integration up by its token digest on every delivery. A process keeps
# what it found for this long, so a storm costs no lookup per request; revoking or
# editing an integration therefore takes effect in other processes within this time
# (at once in the process that saved it).
INTEGRATION_CACHE_SECONDS = 5.0

_cache: dict[tuple[str, str], tuple[float, Integration]] = {}
_cache_lock = threading.Lock()


def integration_cache_clear(**_signal) -> None:
    """Forget every cached integration (connected to Integration's save and delete)."""
    with _cache_lock:
        _cache.clear()


def integration_create(*, name: str, kind: str, **rules) -> tuple[Integration, str]:
    """Create an integration. Returns it and its raw token, which is never stored."""
    raw = INTEGRATION_PREFIX + secrets.token_urlsafe(32)
    integration = Integration.objects.create(
        name=name, kind=kind, prefix=raw[: len(INTEGRATION_PREFIX) + 6], digest=token_digest(raw), **rules
    )
    return integration, raw


def integration_for_token(raw: str, *, kind: str) -> Integration | None:
    """The live integration of ``kind`` whose token is ``raw``, or None.

    Database errors propagate: the caller answers 503, never 401, when it
    cannot check.
    """
    digest = token_digest(raw)
    key = (digest, kind)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        integration = cached[1]
    else:
        integration = Integration.objects.filter(digest=digest, kind=kind, revoked_at__isnull=True).first()
        if integration is not None:
            with _cache_lock:
                if len(_cache) > 1000:
                    _cache.clear()
                _cache[key] = (time.monotonic() + INTEGRATION_CACHE_SECONDS, integration)
    # The lookup is by digest; the comparison in constant time keeps the
    # answer's timing independent of how much of a guess matched.
    if integration is None or not hmac.compare_digest(integration.digest, digest):
        return None
    now = timezone.now()
    if integration.last_used_at is None or (now - integration.last_used_at).total_seconds() >= 60:
        Integration.objects.filter(pk=integration.pk).update(last_used_at=now)
        integration.last_used_at = now
    return integration
