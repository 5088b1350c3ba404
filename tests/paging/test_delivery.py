"""The outbox's delivery: retries with backoff, every attempt recorded, permanent failures marked, signatures."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.actors import Actor
from incidents.models import TimelineEntry
from incidents.paging import outbox
from incidents.paging.models import Delivery, DeliveryAttempt, DeliveryStatus
from incidents.paging.signing import signature_verify
from tests.factories import IncidentFactory
from tests.paging.helpers import channel, person
from tests.paging.receivers import free_port

pytestmark = pytest.mark.django_db


def page(user=None, *, ch=None, incident=None, key="k1"):
    incident = incident or IncidentFactory(severity="P1", title="Checkout down")
    message = outbox.incident_message(incident, title="[P1] page", text="Checkout is down", at=timezone.now())
    return outbox.delivery_create(
        key=key, incident=incident, event="page", purpose="page", message=message, user=user, channel=ch
    )


def due_now(delivery):
    """The clock moves on to the retry's time."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_500_then_200_is_retried_then_delivered_once(receiver, signing):
    receiver.script = [(500, 0)]
    d = page(person("alice", ("webhook", receiver.url)))
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.RETRYING
    d.refresh_from_db()
    assert d.next_attempt_at > timezone.now()
    assert outbox.delivery_attempt(d.pk) == "skipped"  # not due yet
    due_now(d)
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.DELIVERED
    assert outbox.delivery_attempt(d.pk) == "skipped"  # a redelivered task sends nothing more
    assert [r.answered for r in receiver.received] == [500, 200]
    attempts = list(DeliveryAttempt.objects.filter(delivery=d).values_list("number", "status_code", "ok"))
    assert attempts == [(1, 500, False), (2, 200, True)]
    assert {r.headers["X-Orion-Delivery"] for r in receiver.received} == {str(d.pk)}
    entry = TimelineEntry.objects.get(incident=d.incident, kind="page")
    assert entry.text == "Page delivered to alice by webhook"


def test_the_signature_verifies_with_each_secret_and_a_tampered_body_fails(receiver, signing):
    page(person("alice", ("webhook", receiver.url)))
    outbox.delivery_attempt(Delivery.objects.get().pk)
    got = receiver.received[0]
    header = got.headers["X-Orion-Signature"]
    assert header.count("v1=") == 2
    now = int(time.time())
    for secret in signing:
        assert signature_verify(header=header, body=got.body, secret=secret, now=now)
    tampered = got.body.replace(b"Checkout", b"Checkoux")
    assert not signature_verify(header=header, body=tampered, secret=signing[0], now=now)
    assert not signature_verify(header=header, body=got.body, secret="unknown", now=now)
    assert not signature_verify(header=header, body=got.body, secret=signing[0], now=now + 3600)
    body = json.loads(got.body)
    assert body["event"] == "page"
    assert body["incident"]["severity"] == "P1"
    assert body["incident"]["url"].startswith("https://orion.example.com/incidents/")


def test_a_slow_receiver_times_out_and_the_attempt_says_so(receiver, settings):
    settings.PAGING_SEND_TIMEOUT_SECONDS = 1
    receiver.script = [(200, 3)]
    d = page(person("alice", ("webhook", receiver.url)))
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.RETRYING
    attempt = DeliveryAttempt.objects.get(delivery=d)
    assert attempt.error == "no answer within 1 s"
    assert attempt.latency_ms >= 1000
    assert attempt.status_code is None


def test_backoff_grows_with_jitter_and_stays_below_the_visibility_timeout(settings):
    settings.PAGING_RETRY_BASE_SECONDS, settings.PAGING_RETRY_MAX_SECONDS = 5, 10_000
    settings.CELERY_VISIBILITY_TIMEOUT = 600
    waits = [outbox.backoff_seconds(n) for n in range(1, 12)]
    assert 2.5 <= waits[0] <= 5
    assert 10 <= waits[2] <= 20
    assert max(waits) <= 300
    assert len({round(outbox.backoff_seconds(4), 6) for _ in range(5)}) > 1


def test_an_unreachable_receiver_falls_back_to_the_next_contact_then_fails(settings, smtp):
    settings.PAGING_MAX_ATTEMPTS = 2
    dead = f"http://127.0.0.1:{free_port()}/hook"
    d = page(person("alice", ("ntfy", dead), ("email", "nobody@example.com")))
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.RETRYING
    due_now(d)
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.RETRYING  # ntfy exhausted: on to email
    d.refresh_from_db()
    assert d.contact_index == 1
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.FAILED  # the SMTP server refuses: permanent
    attempts = list(DeliveryAttempt.objects.filter(delivery=d).values_list("contact_kind", "permanent", "status_code"))
    assert attempts == [("ntfy", False, None), ("ntfy", False, None), ("email", True, 550)]
    assert "connection failed" in DeliveryAttempt.objects.filter(delivery=d).first().error
    entry = TimelineEntry.objects.get(incident=d.incident, kind="page")
    assert entry.text.startswith("Page to alice failed after 3 attempt(s): SMTP refused the recipient")
    assert d.incident.status == "detected"


def test_email_goes_through_the_smtp_server(smtp):
    d = page(person("alice", ("email", "alice@example.com")))
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.DELIVERED
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    text = envelope.content.decode()
    assert "Subject: [P1] page" in text
    assert "Checkout is down" in text


def test_a_4xx_is_a_permanent_failure(receiver):
    receiver.script = [(404, 0)]
    d = page(person("alice", ("webhook", receiver.url)))
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.FAILED
    assert Delivery.objects.get(pk=d.pk).last_error == "HTTP 404"
    assert len(receiver.received) == 1


def test_slack_and_ntfy_bodies(receiver, monkeypatch, signing):
    monkeypatch.setenv("ORION_TARGET_OPS_SLACK", receiver.url + "/slack")
    slack = page(ch=channel("ops-room", "slack", "ORION_TARGET_OPS_SLACK"), key="s")
    ntfy = page(person("alice", ("ntfy", receiver.url + "/ntfy")), key="n", incident=slack.incident)
    assert outbox.delivery_attempt(slack.pk) == DeliveryStatus.DELIVERED
    assert outbox.delivery_attempt(ntfy.pk) == DeliveryStatus.DELIVERED
    slack_got, ntfy_got = receiver.received
    body = json.loads(slack_got.body)
    assert "Checkout is down" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert ntfy_got.body == b"Checkout is down"
    assert ntfy_got.headers["Priority"] == "4"
    assert ntfy_got.headers["Title"] == "[P1] page"
    assert ntfy_got.headers["Click"].startswith("https://orion.example.com/incidents/")


def test_a_channel_url_is_read_at_send_time_and_never_stored(receiver, monkeypatch):
    secret_url = receiver.url + "/T000/B000/very-secret-token"
    monkeypatch.setenv("ORION_TARGET_OPS_HOOK", secret_url)
    d = page(ch=channel(), key="c")
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.DELIVERED
    assert receiver.received[0].path.endswith("very-secret-token")
    stored = json.dumps(list(Delivery.objects.values())[0], default=str)
    stored += json.dumps(list(TimelineEntry.objects.values("text", "data")), default=str)
    assert "very-secret-token" not in stored


def test_an_unset_channel_variable_is_a_permanent_failure_that_names_the_variable():
    d = page(ch=channel(url_env="ORION_TARGET_NOT_SET"), key="c")
    assert outbox.delivery_attempt(d.pk) == DeliveryStatus.FAILED
    assert Delivery.objects.get(pk=d.pk).last_error == "channel ops-room: the variable ORION_TARGET_NOT_SET is not set"


def test_resend_makes_a_new_row_and_says_so_on_the_timeline(receiver):
    d = page(person("alice", ("webhook", receiver.url)))
    outbox.delivery_attempt(d.pk)
    engineer = person("erin")
    copy = outbox.delivery_resend(delivery=d, actor=Actor.for_user(engineer))
    assert copy.pk != d.pk and copy.status == DeliveryStatus.PENDING
    assert outbox.delivery_attempt(copy.pk) == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 2
    assert TimelineEntry.objects.filter(kind="page", text="Re-sent the page message to alice").exists()


def test_the_sweep_requeues_only_rows_whose_task_was_lost():
    d = page(person("alice", ("webhook", "http://127.0.0.1:9/")))
    now = timezone.now()
    assert outbox.deliveries_sweep(now=now) == 0
    assert outbox.deliveries_sweep(now=now + timedelta(minutes=5)) == 1
    Delivery.objects.filter(pk=d.pk).update(status=DeliveryStatus.DELIVERED)
    assert outbox.deliveries_sweep(now=now + timedelta(minutes=5)) == 0
