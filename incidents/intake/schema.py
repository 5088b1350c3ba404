"""The intake bodies as declared schemas: validation and OpenAPI documentation in one place.

Alertmanager's webhook (version 4) and the Events API v2 are pydantic models.
The envelope of a webhook is validated once and each alert on its own, so one
malformed alert is rejected with its reasons while the others are applied.

Before validation, every string of a body is made storable: PostgreSQL text and
jsonb cannot hold NUL, and UTF-8 cannot encode a lone surrogate (a ``\\ud800``
escape in JSON), so both become U+FFFD. Times are RFC 3339 with a zone and are
converted to UTC; a time that has no UTC equivalent in range is refused.
"""

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

MAX_DEPTH = 64
MAX_DEDUP_KEY = 255
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class IntakeError(Exception):
    """A body that cannot be accepted. ``errors`` name the offending fields."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# Storable strings ------------------------------------------------------------------


def clean_text(value: str) -> tuple[str, int]:
    """``value`` with NUL and lone surrogates replaced by U+FFFD, and how many were replaced."""
    if "\x00" not in value and (value.isascii() or not _has_surrogate(value)):
        return value, 0
    return _UNSTORABLE.subn(REPLACEMENT, value)


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_json(value: Any, *, max_depth: int = MAX_DEPTH) -> tuple[Any, int]:
    """A JSON value with every string (keys included) made storable, and the count of replacements.

    Raises IntakeError when the value nests deeper than ``max_depth``.
    """
    replaced = 0

    def walk(item, depth):
        nonlocal replaced
        if isinstance(item, str):
            text, count = clean_text(item)
            replaced += count
            return text
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise IntakeError([f"body: nested deeper than {max_depth} levels"])
            if isinstance(item, list):
                return [walk(v, depth + 1) for v in item]
            return {walk(k, depth + 1): walk(v, depth + 1) for k, v in item.items()}
        return item

    return walk(value, 0), replaced


def json_load(body: bytes) -> Any:
    """Parse a request body: UTF-8 JSON only. Raises IntakeError with a readable reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError([f"body: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise IntakeError([f"body: nested deeper than {MAX_DEPTH} levels"]) from None
    except ValueError as exc:
        raise IntakeError([f"body: not valid JSON ({exc})"]) from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:32]} is out of range for a number")
    return value


# Times ---------------------------------------------------------------------------


def rfc3339_utc(value: Any) -> datetime | None:
    """An RFC 3339 string as an aware UTC datetime; Alertmanager's zero time is None."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{value[:64]!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value[:64]!r} has no time zone")
    if parsed.year <= 1:  # Alertmanager's zero time (0001-01-01T00:00:00Z): "not set"
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value[:64]!r} is out of range") from None


def _required_time(value: Any) -> datetime:
    parsed = rfc3339_utc(value)
    if parsed is None:
        raise ValueError("is the zero time; a firing needs its start")
    return parsed


_TIME_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time"})
RequiredTime = Annotated[datetime, BeforeValidator(_required_time), _TIME_SCHEMA]
OptionalTime = Annotated[datetime | None, BeforeValidator(rfc3339_utc), _TIME_SCHEMA]
Text = Annotated[str, StringConstraints(strict=True)]
NonBlank = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


# Alertmanager webhook (version 4) ---------------------------------------------------------


class AlertmanagerAlert(BaseModel):
    """One alert of a notification, as Alertmanager sends it."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, Text] = Field(default_factory=dict)
    annotations: dict[str, Text] = Field(default_factory=dict)
    startsAt: RequiredTime  # noqa: N815 (Alertmanager's names)
    endsAt: OptionalTime = None  # noqa: N815
    generatorURL: Text = ""  # noqa: N815
    fingerprint: Annotated[str, StringConstraints(strict=True, max_length=255)] = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body, version 4 (see its webhook_config documentation)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: NonBlank  # noqa: N815
    truncatedAlerts: Annotated[int, Field(ge=0, strict=True)] = 0  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: Text = ""
    groupLabels: dict[str, Text] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, Text] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, Text] = Field(default_factory=dict)  # noqa: N815
    externalURL: Text = ""  # noqa: N815
    alerts: list[AlertmanagerAlert]


def labels_fingerprint(labels: dict) -> str:
    """Alertmanager's fingerprint is a label hash; compute one when a sender omits it."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def error_lines(exc: ValidationError, *, prefix: str = "", style: str = "path") -> list[str]:
    """pydantic's errors as ``alerts[0].labels.severity: must be a string`` lines."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        path = prefix
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif "[" not in part and not part.startswith("function-"):  # pydantic's own validator names
                path += f".{part}" if path else part
        message = _message(error)
        if not path:
            lines.append(message if style == "quoted" else f"body: {message}")
        else:
            lines.append(f"'{path}' {message}" if style == "quoted" else f"{path}: {message}")
    return lines


def _message(error: dict) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind in ("string_type", "string_sub_type"):
        return "must be a string"
    if kind == "dict_type":
        return "must be an object of strings"
    if kind == "list_type":
        return "must be a list"
    if kind == "model_type":
        return "must be an object"
    if kind == "literal_error":
        return "must be " + error["msg"].removeprefix("Input should be ")
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    return error["msg"][:1].lower() + error["msg"][1:]


# Events API v2 ------------------------------------------------------------------------------


class EventLink(BaseModel):
    model_config = ConfigDict(extra="ignore")

    href: Text
    text: Text = ""


class EventImage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    src: Text
    href: Text = ""
    alt: Text = ""


class EventPayload(BaseModel):
    """What happened: required to trigger."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=1024)]
    source: NonBlank
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: OptionalTime = None
    component: Text = ""
    group: Text = ""
    class_: Text = Field("", alias="class")
    custom_details: Any = None


class EventV2(BaseModel):
    """An Events API v2 event (PagerDuty format). ``routing_key`` is an events integration's token."""

    model_config = ConfigDict(extra="ignore")

    routing_key: NonBlank
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_DEDUP_KEY)] | None = None
    payload: EventPayload | None = None
    client: Text = ""
    client_url: Text = ""
    links: list[EventLink] = Field(default_factory=list)
    images: list[EventImage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs(self):
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("'payload' is required to trigger")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"'dedup_key' is required to {self.event_action}")
        if self.dedup_key is not None and not self.dedup_key.strip():
            raise ValueError("'dedup_key' must be a non-empty string")
        return self
