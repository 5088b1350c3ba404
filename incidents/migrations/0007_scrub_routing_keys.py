"""Scrub Events API routing keys out of stored payload bodies.

Bodies stored before this release kept ``routing_key`` in clear; anyone who
could read them could send events as the integration. The key is replaced by
``[removed]`` wherever it appears in the body, as new payloads are stored.
"""

import json

from django.db import migrations

REDACTED = "[removed]"


def _scrub(value, secret):
    if isinstance(value, str):
        return value.replace(secret, REDACTED) if secret in value else value
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secret) for k, v in value.items()}
    return value


def scrub(apps, schema_editor):
    AlertPayload = apps.get_model("incidents", "AlertPayload")
    payloads = AlertPayload.objects.filter(integration__kind="events").only("pk", "body")
    for payload in payloads.iterator(chunk_size=500):
        try:
            data = json.loads(payload.body)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        secret = data.get("routing_key")
        if not isinstance(secret, str) or not secret or secret == REDACTED:
            continue
        data = _scrub(data, secret)
        data["routing_key"] = REDACTED
        AlertPayload.objects.filter(pk=payload.pk).update(body=json.dumps(data, ensure_ascii=True))


class Migration(migrations.Migration):
    dependencies = [("incidents", "0006_payload_rejected")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=False)]
