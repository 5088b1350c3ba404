"""Live updates: cursors, server time, versions, and rendering the fragments pages and pollers share."""

import hashlib
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from django.conf import settings
from django.core import signing
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.db.models import Max
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

from incidents import panels, scoping
from incidents.models import Incident

logger = logging.getLogger(__name__)

# A row written just before a cursor may commit just after it; ask a little further back.
# Re-sent rows are harmless: the script skips a row whose version it already shows.
CURSOR_OVERLAP = timedelta(seconds=5)

# What a client may say it holds: "<fragment id>:<version>" pairs, comma-separated.
KNOWN_PAIR = re.compile(r"([a-z0-9][a-z0-9_-]{0,80}):([0-9a-f]{1,64})")
KNOWN_MAX_LENGTH = 4000
# Django masks the CSRF token anew in every rendering: not a change of the fragment.
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*"')


def cursor_now() -> tuple[int, datetime]:
    now = timezone.now()
    return int(now.timestamp() * 1000), now


def cursor_parse(raw: str | None) -> datetime | None:
    """A cursor is milliseconds since the epoch, as handed out by ``cursor_now``."""
    if not raw or not raw.isdigit() or len(raw) > 16:
        return None
    return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)


def server_time_ms() -> int:
    return int(time.time() * 1000)


def fragment(template: str, request, **context) -> str:
    return render_to_string(template, context, request=request)


def bad_cursor() -> JsonResponse:
    return JsonResponse({"detail": "Give since=<cursor> from the page or the previous answer."}, status=400)


def version_token(*values) -> str:
    """A short, stable digest of what a fragment shows (its data's stamps, or its HTML)."""
    text = json.dumps(values, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def html_version(html: str) -> str:
    return version_token(CSRF_VALUE.sub(r'\1"', html))


def known_parse(raw: str | None) -> dict[str, str] | None:
    """The versions a client holds, from ``known=<id>:<version>,…``; None when the value is malformed."""
    if not raw:
        return {}
    if len(raw) > KNOWN_MAX_LENGTH:
        return None
    known = {}
    for part in raw.split(","):
        match = KNOWN_PAIR.fullmatch(part)
        if match is None:
            return None
        known[match[1]] = match[2]
    return known


def panel_html(panel: panels.Panel, request, incident, base: dict) -> str:
    """One registered panel's body. A failing panel is logged and says so; the rest of the page stays current."""
    try:
        context = {**base, **panel.context(request, incident)}
        return render_to_string(panel.template, context, request=request)
    except Exception:
        logger.exception("incident panel %r failed for incident %s", panel.key, incident.pk)
        return render_to_string("incidents/_panel_failed.html", request=request)


# The dashboard checks a stamp every second; a process reads it from the database at most this often.
STAMP_CACHE_SECONDS = 0.25
# How long a dashboard's stamp token is accepted (the page reloads itself long before in practice).
STAMP_TOKEN_MAX_AGE = 24 * 3600
_STAMP_SALT = "orion.dashboard-stamp"
_stamp: tuple[float, int] = (0.0, 0)


def stamp_token(user) -> str:
    return signing.dumps(user.pk, salt=_STAMP_SALT, compress=False)


def stamp_token_check(token: str) -> int:
    """The user id a stamp token was made for; BadSignature (or SignatureExpired) when it is not valid."""
    return signing.loads(token, salt=_STAMP_SALT, max_age=STAMP_TOKEN_MAX_AGE)


def changed_stamp_ms() -> int:
    """Milliseconds of the latest ``updated_at`` of any incident: one backward step on its index."""
    global _stamp
    read_at, value = _stamp
    if time.monotonic() - read_at < STAMP_CACHE_SECONDS:
        return value
    # Any incident, whoever asks: the value is shared by the process and only says "look again";
    # what changed is then asked for with the person's scope.
    with scoping.unscoped():
        latest = Incident.objects.aggregate(latest=Max("updated_at"))["latest"]
    value = int(latest.timestamp() * 1000) if latest else 0
    _stamp = (time.monotonic(), value)
    return value


# The stamp, answered before Django ------------------------------------------------------------------

STAMP_PATH = "/dashboard/stamp/"  # incidents/web/urls.py: dashboard-stamp
_STAMP_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
]


def stamp_reply(token: str) -> tuple[int, dict]:
    """The answer to a stamp check carrying the page's token: (status, body)."""
    try:
        stamp_token_check(token)
    except signing.BadSignature:
        return 403, {"detail": "Reload the page: its live token expired or is not valid."}
    return 200, {"changed": changed_stamp_ms()}


def _stamp_answer(environ) -> tuple[str, bytes] | None:
    """The answer to a token-carrying stamp check, or None to leave the request to Django.

    Django is left everything it must judge: requests without a token (the session
    decides), a host not in ALLOWED_HOSTS (400), plain HTTP where HTTPS is required
    (the redirect). The request object is Django's own, for its host and scheme rules.
    """
    request = WSGIRequest(environ)
    token = request.GET.get("t")
    if token is None:
        return None
    try:
        request.get_host()
    except DisallowedHost:
        return None
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    read_at = _stamp[0]
    status, body = stamp_reply(token)
    if _stamp[0] != read_at:
        connections.close_all()  # this thread is outside Django's request cycle: give the connection back
    return f"{status} {HTTPStatus(status).phrase}", json.dumps(body).encode()


def stamp_fast_path(application):
    """WSGI wrapper answering the dashboards' one-second stamp checks without Django's request cycle.

    A hundred open dashboards ask a hundred times a second; through the middleware
    each check cost about 3 ms of CPU. The answer needs only the page's signed
    token and a time the process reads from the database at most every
    ``STAMP_CACHE_SECONDS``; these checks are not counted in ``/metrics``.
    """

    def wrapper(environ, start_response):
        if environ.get("PATH_INFO") == STAMP_PATH and environ.get("REQUEST_METHOD") == "GET":
            answer = _stamp_answer(environ)
            if answer is not None:
                status, body = answer
                start_response(status, [*_STAMP_HEADERS, ("Content-Length", str(len(body)))])
                return [body]
        return application(environ, start_response)

    return wrapper
