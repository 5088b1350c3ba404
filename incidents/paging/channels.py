"""Sending one message by one contact method: email over SMTP, or an HTTP webhook (JSON, Slack, ntfy).

A sender returns an ``Outcome``: delivered, or failed with the status code and
whether trying again could help (a 5xx, a timeout or a refused connection
could; a 4xx or a refused recipient could not). Error texts never include
a URL or a secret.
"""

import json
import os
import smtplib
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from incidents.paging.models import Channel, ContactKind
from incidents.paging.signing import signature_header
from orion_ops import logs

NTFY_PRIORITY = {"P0": "5", "P1": "4", "P2": "3", "P3": "2"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    permanent: bool = False
    latency_ms: int = 0


class ChannelUnavailable(Exception):
    """The destination cannot be resolved (a channel's variable is unset): permanent."""


def destination(contact: dict) -> str:
    """Where a contact points, for sending: a channel's URL comes from its variable, at send time."""
    slug = contact.get("channel")
    if not slug:
        return contact["address"]
    channel = Channel.objects.filter(slug=slug).first()
    if channel is None:
        raise ChannelUnavailable(f"channel {slug} no longer exists")
    if channel.kind == ContactKind.EMAIL:
        return channel.address
    url = os.environ.get(channel.url_env, "") if channel.url_env else ""
    if not url:
        raise ChannelUnavailable(f"channel {slug}: the variable {channel.url_env or '(none)'} is not set")
    return url


def body_for(kind: str, message: dict, *, event: str) -> tuple[bytes, dict]:
    """The request body and headers of a webhook of ``kind`` (see docs/paging.md for the shapes)."""
    if kind == ContactKind.SLACK:
        text = f"*{message['title']}*\n{message['text']}"
        if message.get("url"):
            text += f"\n<{message['url']}|Open {message.get('reference', 'incident')}>"
        body = {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
        return json.dumps(body).encode(), {"Content-Type": "application/json"}
    if kind == ContactKind.NTFY:
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": message["title"].encode("ascii", "replace").decode(),
            "Priority": NTFY_PRIORITY.get(message.get("severity", ""), "3"),
            "Tags": ",".join(
                filter(
                    None,
                    [
                        "rotating_light" if event == "page" else "information_source",
                        message.get("severity", "").lower(),
                    ],
                )
            ),
        }
        if message.get("url"):
            headers["Click"] = message["url"]
        return message["text"].encode(), headers
    body = {
        "event": event,
        "incident": message.get("incident"),
        "text": message["text"],
        "at": message["at"],
    }
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def send(contact: dict, message: dict, *, event: str, delivery_id: int) -> Outcome:
    kind = contact["kind"]
    started = time.monotonic()
    try:
        target = destination(contact)
    except ChannelUnavailable as exc:
        return Outcome(ok=False, error=str(exc), permanent=True)
    if kind == ContactKind.EMAIL:
        outcome = _send_email(target, message)
    else:
        logs.secret_add(target)  # a webhook or ntfy URL is its own credential: never in a log line
        outcome = _send_webhook(kind, target, message, event=event, delivery_id=delivery_id)
    latency = int((time.monotonic() - started) * 1000)
    return Outcome(outcome.ok, outcome.status_code, outcome.error[:500], outcome.permanent, latency)


def _send_email(address: str, message: dict) -> Outcome:
    connection = get_connection(timeout=settings.PAGING_SEND_TIMEOUT_SECONDS)
    email = EmailMessage(
        subject=message["title"], body=message["text"] + (f"\n\n{message['url']}" if message.get("url") else ""),
        to=[address], connection=connection,
    )  # fmt: skip
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
        return Outcome(ok=False, status_code=code, error=f"SMTP refused the recipient ({code})", permanent=True)
    except smtplib.SMTPResponseException as exc:
        # 4xx is "try later", 5xx is "never".
        return Outcome(
            ok=False, status_code=exc.smtp_code, error=f"SMTP error {exc.smtp_code}", permanent=exc.smtp_code >= 500
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        return Outcome(ok=False, error=f"SMTP: {type(exc).__name__}: {exc}"[:300])
    return Outcome(ok=True)


def _send_webhook(kind: str, url: str, message: dict, *, event: str, delivery_id: int) -> Outcome:
    body, headers = body_for(kind, message, event=event)
    headers["User-Agent"] = "OrionOps-Paging"
    headers["X-Orion-Delivery"] = str(delivery_id)
    secrets = settings.WEBHOOK_SIGNING_SECRETS
    if secrets:
        headers["X-Orion-Signature"] = signature_header(body=body, timestamp=int(time.time()), secrets=secrets)
    timeout = settings.PAGING_SEND_TIMEOUT_SECONDS
    try:
        response = requests.post(url, data=body, headers=headers, timeout=(timeout, timeout), allow_redirects=False)
    except requests.Timeout:
        return Outcome(ok=False, error=f"no answer within {timeout} s")
    except requests.ConnectionError:
        return Outcome(ok=False, error="connection failed (refused or unreachable)")
    except requests.RequestException as exc:
        return Outcome(ok=False, error=f"request failed: {type(exc).__name__}", permanent=True)
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(ok=True, status_code=code)
    retryable = code >= 500 or code in (408, 425, 429)
    return Outcome(ok=False, status_code=code, error=f"HTTP {code}", permanent=not retryable)
