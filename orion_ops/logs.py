"""Log lines of Orion Ops: plain or JSON (``LOG_FORMAT``), with their context, secrets redacted.

Every handler in ``settings.LOGGING`` (and gunicorn's, see deploy/gunicorn.conf.py)
carries :class:`RedactSecrets`, so no line leaves a process with a secret in it:

* the values of secret environment variables (``SECRET_KEY``, ``METRICS_TOKEN``,
  ``EMAIL_HOST_PASSWORD``, ``WEBHOOK_SIGNING_SECRETS``, every ``ORION_TARGET_*``
  and ``TARGET_SECRET_ENV`` variable, any name containing PASSWORD, SECRET, TOKEN
  or DSN; ``NAME_FILE`` variants are read) and the passwords inside URL- or
  libpq-style values (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``REDIS_URL``, DSNs);
* values added at run time with :func:`secret_add` (a secret read from the database);
* by shape: API and integration tokens (``oo_…``, ``oi_…``), ``Bearer …``,
  passwords in URLs and ``password=…`` pairs.

With ``LOG_FORMAT=json`` each event is one line of JSON with ``time``, ``level``,
``logger``, ``message`` and, when known, ``request_id``, ``incident_id``,
``task_id`` and ``task`` (bound by :func:`bind`, by the request middleware and by
the Celery signals in orion_ops/celery.py). A traceback goes in ``exc``, on the
same line.

This module imports neither Django nor Celery: gunicorn loads it before either.
"""

import contextvars
import json
import logging
import os
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

REDACTED = "[redacted]"
CONTEXT_FIELDS = ("request_id", "incident_id", "task_id", "task")

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("orion_log_context", default={})  # noqa: B039

_SECRET_NAMES = frozenset({"SECRET_KEY", "METRICS_TOKEN", "EMAIL_HOST_PASSWORD", "WEBHOOK_SIGNING_SECRETS"})
_SECRET_NAME_PARTS = ("PASSWORD", "SECRET", "TOKEN", "DSN", "PASSWD", "API_KEY", "PRIVATE_KEY")
_URL_NAMES = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
# Shorter values ("0", "yes") would blank out ordinary words.
_MIN_SECRET_LENGTH = 6

_PATTERNS = (
    # API and integration tokens: the prefix stays, so a reader knows which kind it was.
    (re.compile(r"\b(o[oi]_)[A-Za-z0-9_\-]{8,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{6,}"), r"\1\2" + REDACTED),
    # scheme://user:password@host
    (re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    # libpq key=value, query strings, JSON-ish "password": "x"
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|pwd|secret|api_key|apikey|access_token|token)[\"']?\s*[=:]\s*[\"']?)"
            r"(?!\[redacted\])[^\s\"'&,;}]+"
        ),
        r"\1" + REDACTED,
    ),
)

_runtime_secrets: set[str] = set()
_environment_secrets: tuple[str, ...] | None = None


def bind(**fields) -> contextvars.Token:
    """Add fields (``incident_id=…``) to every line logged from here on in this context."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def reset(token: contextvars.Token | None = None) -> None:
    """Undo a :func:`bind` (or drop the whole context when no token is given)."""
    if token is None:
        _context.set({})
    else:
        _context.reset(token)


def secret_add(value: str) -> None:
    """Redact ``value`` from every later line of this process (a secret read from the database)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _runtime_secrets.add(value)


def _read(name: str) -> str:
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError:
            return ""
    return os.environ.get(name, "")


def _is_secret_name(name: str) -> bool:
    listed = {part.strip() for part in os.environ.get("TARGET_SECRET_ENV", "").split(",") if part.strip()}
    return (
        name in _SECRET_NAMES
        or name.startswith("ORION_TARGET_")
        or name in listed
        or any(part in name for part in _SECRET_NAME_PARTS)
    )


def _parts_of(value: str) -> set[str]:
    """The value itself, and the password inside it when it is a URL or a libpq string."""
    found = {value}
    for word in value.split():
        try:
            password = urlsplit(word).password
        except ValueError:
            password = None
        if password:
            found.add(password)
    found.update(re.findall(r"(?i)\bpassword\s*=\s*'?([^\s']+)", value))
    return found


def environment_secrets() -> tuple[str, ...]:
    """Secret values from the environment, longest first (so a DSN goes before its password)."""
    global _environment_secrets
    if _environment_secrets is None:
        names = {name.removesuffix("_FILE") for name in os.environ}
        values: set[str] = set()
        for name in names:
            if _is_secret_name(name):
                value = _read(name)
                if value:
                    values |= _parts_of(value)
            elif name in _URL_NAMES:
                values |= _parts_of(_read(name)) - {_read(name)}
        _environment_secrets = tuple(
            sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH and not v.isdigit()), key=len, reverse=True)
        )
    return _environment_secrets


def redact(text: str) -> str:
    if not text:
        return text
    for value in (*environment_secrets(), *sorted(_runtime_secrets, key=len, reverse=True)):
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback with the secrets redacted; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the redacted text is what gets printed
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for field in CONTEXT_FIELDS:
            if field not in record.__dict__:
                value = _context.get().get(field)
                if value is not None:
                    setattr(record, field, value)
        return True


class PlainFormatter(logging.Formatter):
    """``time level logger message`` and the context fields as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if getattr(record, f, None) is not None)
        if not extras:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{extras}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                event[field] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exc"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        return json.dumps(event, default=str, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict:
    """The ``LOGGING`` dict of the settings (also used by the Celery worker and beat)."""
    formatter = {"()": JsonFormatter} if log_format == "json" else {"()": PlainFormatter, "format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"orion": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "orion", "filters": ["redact"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "INFO"}},
    }


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_FORMATS = ("plain", "json")
