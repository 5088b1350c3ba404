"""Webhook signatures: ``X-Orion-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``.

Each ``v1`` is the HMAC-SHA256 of ``"<t>.<body>"`` under one secret of
``WEBHOOK_SIGNING_SECRETS``; several secrets are active during a rotation, so a
receiver accepts the message when any ``v1`` matches a secret it knows.
"""

import hashlib
import hmac


def signature_header(*, body: bytes, timestamp: int, secrets: list[str]) -> str:
    parts = [f"t={timestamp}"]
    for secret in secrets:
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)


def signature_verify(*, header: str, body: bytes, secret: str, now: int, tolerance: int = 300) -> bool:
    """The receiver's side: the docs show the same check in a few lines."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or abs(now - int(timestamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")
