"""API tokens: random secrets shown once, stored as SHA-256 digests."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from incidents.models import ApiToken

TOKEN_PREFIX = "oo_"  # noqa: S105 (a visible marker, not a secret)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token. Returns the stored row and the raw token, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], digest=token_digest(raw), expires_at=expires_at
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The live token for ``raw``, or None. Looks up by digest; never compares raw secrets."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    stale_after = timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or now - token.last_used_at >= stale_after:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
