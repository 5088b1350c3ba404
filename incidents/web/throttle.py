"""Login throttling: failures counted in the shared cache, per username and address, and per address.

Fixed windows: the first failure opens a window of ``WINDOW_SECONDS``; once a
counter reaches its limit, every attempt in that window is refused before the
password is checked, so a correct guess inside a locked window gains nothing.
A successful sign-in clears the username's counter for that address.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 15 * 60
FAILURES_PER_USERNAME_AND_ADDRESS = 5
# Higher, so colleagues behind one NAT are not locked out by one person's typos,
# but low enough to stop one address spraying many usernames.
FAILURES_PER_ADDRESS = 30


@dataclass(frozen=True)
class Lockout:
    retry_after_seconds: int

    @property
    def retry_after_minutes(self) -> int:
        return max(1, -(-self.retry_after_seconds // 60))


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"orion:login-failures:{digest}"


def _counters(username: str, address: str) -> list[tuple[str, int]]:
    return [
        (_key("user", username.strip().lower(), address), FAILURES_PER_USERNAME_AND_ADDRESS),
        (_key("address", address), FAILURES_PER_ADDRESS),
    ]


def lockout_for(username: str, address: str) -> Lockout | None:
    """The lockout in force for this username from this address, if any."""
    now = time.time()
    for key, limit in _counters(username, address):
        values = cache.get_many([key, f"{key}:start"])
        if values.get(key, 0) >= limit:
            started = values.get(f"{key}:start", now)
            return Lockout(retry_after_seconds=max(1, int(started + WINDOW_SECONDS - now)))
    return None


def failure_record(username: str, address: str) -> None:
    now = time.time()
    for key, _limit in _counters(username, address):
        # add() only sets a missing key: the window starts at the first failure.
        cache.add(f"{key}:start", now, WINDOW_SECONDS)
        cache.add(key, 0, WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, WINDOW_SECONDS)


def failures_clear(username: str, address: str) -> None:
    key, _limit = _counters(username, address)[0]
    cache.delete_many([key, f"{key}:start"])


def client_address(request) -> str:
    """The address that failed. X-Forwarded-For is trusted only for the configured number of proxy hops.

    Without ``TRUSTED_PROXY_HOPS`` (the default) it is ignored, since a client
    could otherwise pick a fresh address per attempt. Behind one ingress, set it to 1.
    """
    hops = getattr(settings, "TRUSTED_PROXY_HOPS", 0)
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
