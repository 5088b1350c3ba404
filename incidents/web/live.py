"""Live updates: cursors, server time, and rendering the fragments pages and pollers share."""

import time
from datetime import UTC, datetime, timedelta

from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

# A row written just before a cursor may commit just after it; ask a little further back.
# Re-sent rows are harmless: the script skips a row whose version it already shows.
CURSOR_OVERLAP = timedelta(seconds=5)


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
