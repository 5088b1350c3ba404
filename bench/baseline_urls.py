"""The app's own settings plus two baseline views, so that gunicorn serves both with one configuration.

``DJANGO_SETTINGS_MODULE=bench.baseline_settings`` (used by bench/ingest.py and bench/live.py):
- ``POST /bench/bare/``: reads and parses the JSON body, answers ``{"ok": true}`` (no database);
- ``POST /bench/upsert/``: the same, then one plain upsert (``INSERT … ON CONFLICT (key) DO UPDATE``)
  in a transaction: BEGIN, INSERT, COMMIT, the least a storing intake could do.
"""

import json

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

# The table is created by bench/ingest.py: bench_upsert (key text PRIMARY KEY, seen, body jsonb, last_seen_at).


@csrf_exempt
def bare(request):
    data = json.loads(request.body)
    return JsonResponse({"ok": True, "alerts": len(data.get("alerts", []))})


@csrf_exempt
def upsert(request):
    data = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_upsert (key, seen, body, last_seen_at) VALUES (%s, 1, %s, now()) "
            "ON CONFLICT (key) DO UPDATE SET seen = bench_upsert.seen + 1, last_seen_at = now()",
            [data.get("groupKey", ""), request.body.decode()],
        )
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/upsert/", upsert),
    path("", include("orion_ops.urls")),
]
