"""Target configuration as a declared schema: the keys each kind accepts, their types and rules.

Each kind of target is a pydantic model; ``sync_services`` validates the whole
targets file with them (``diagnostics.sync``) and the admin's target form one
target. Every problem is reported, as a path and a message
(``services[0].targets.postgres.dsn_env: required``), and no message echoes a
value, since it could be a secret.

A secret is never accepted as a value: DSNs and tokens are named by environment
variable (``dsn_env``, ``auth_header_env``), and which variables may be named is
decided by ``orion_ops.secret_env`` (``ORION_TARGET_*`` and
``TARGET_SECRET_ENV``, never a setting of Orion Ops itself).
"""

import re
from typing import Annotated, Any, ClassVar
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from orion_ops.secret_env import secret_env_refusal

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

Errors = list[tuple[str, str]]
Loc = tuple[str | int, ...]


def refuse(message: str) -> PydanticCustomError:
    """A validation error whose message is ``message``, as written (no context: nothing is formatted)."""
    return PydanticCustomError("refused", message)


# Sections -----------------------------------------------------------------------------------------


class Section(BaseModel):
    """A mapping of the targets file: its keys are the fields; any other key is refused.

    ``cross_check`` is where rules that span keys go (one key or another, no
    duplicates in a list): it sees the raw mapping and runs even when some keys
    are invalid, so the file's every problem is listed at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A key given as null counts as absent: required keys are then "required".
    null_is_absent: ClassVar[bool] = False

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a mapping"

    @classmethod
    def unknown_key(cls, key: Any) -> str:
        return "unknown key"

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler):
        if not isinstance(data, dict):
            raise refuse(cls.not_a_mapping())
        if cls.null_is_absent:
            data = {key: value for key, value in data.items() if value is not None}
        problems: list[InitErrorDetails] = []
        try:
            section = handler(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc, message = error["loc"], _message(error)
                if error["type"] in ("extra_forbidden", "invalid_key") and len(loc) == 1:
                    loc, message = (str(loc[0]),), cls.unknown_key(loc[0])  # a key, even when YAML made it a number
                problems.append({"type": refuse(message), "loc": loc, "input": error["input"]})
        problems += [{"type": refuse(message), "loc": loc, "input": data} for loc, message in cls.cross_check(data)]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return section


def _message(error) -> str:
    if error["type"] == "missing":
        return "required"
    if error["type"] == "refused":
        return error["msg"]
    return error["msg"][:1].lower() + error["msg"][1:]


def error_list(exc: ValidationError, prefix: str = "") -> Errors:
    """The problems of a validation as ``(path, message)``: ``services[0].targets.postgres.dsn_env``."""
    errors: Errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path, loc = prefix, error["loc"]
        for i, part in enumerate(loc):
            if part == "[key]":  # pydantic's marker after a mapping key that is wrong itself
                continue
            if isinstance(part, int) and loc[i + 1 : i + 2] != ("[key]",):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else str(part)
        errors.append((path, _message(error)))
    return errors


# Values -------------------------------------------------------------------------------------------


def _non_empty(description: str):
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise refuse(f"must be non-empty {description}")
        return value

    return BeforeValidator(check)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise refuse("must be true or false")
    return value


def _positive_integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise refuse("must be a positive integer")
    return value


def _environment_variable(value: Any) -> str:
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        raise refuse("must be the NAME of an environment variable (letters, digits, _), not its value")
    if refusal := secret_env_refusal(value):
        raise refuse(refusal)
    return value


def _http_url(value: Any) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise refuse("must be an http:// or https:// URL")
    if parsed.username or parsed.password:
        raise refuse("must not contain credentials; name an environment variable with auth_header_env")
    return value


def _mapping(description: str):
    def check(value: Any) -> dict:
        if not isinstance(value, dict) or not value:
            raise refuse(f"must be a non-empty {description}")
        return value

    return BeforeValidator(check)


def _text_entry(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise refuse("must be text")
    return value


Text = Annotated[str, _non_empty("text")]
FilePath = Annotated[str, _non_empty("path")]
LabelSelector = Annotated[str, _non_empty("label selector")]
Flag = Annotated[bool, BeforeValidator(_boolean)]
PositiveInt = Annotated[int, BeforeValidator(_positive_integer)]


# Names a variable that holds a secret: checked against the allow-list here, and again when read.
def _slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise refuse("required: lower-case letters, digits and dashes")
    return value


EnvName = Annotated[str, BeforeValidator(_environment_variable)]
Slug = Annotated[str, BeforeValidator(_slug)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
Entry = Annotated[str, BeforeValidator(_text_entry)]
Labels = Annotated[dict[Entry, Entry], _mapping("mapping of label names to values")]
Names = Annotated[dict[Entry, Entry], _mapping("mapping of names")]


# Targets ------------------------------------------------------------------------------------------

# Keys people write by mistake when they mean to reference a secret.
SECRET_HINTS = {
    "dsn": "put the DSN in an environment variable and name it with dsn_env",
    "password": "put the DSN in an environment variable and name it with dsn_env",
    "auth_header": "put the header in an environment variable and name it with auth_header_env",
    "token": "put the token in an environment variable and name it with auth_header_env",
}


class TargetSettings(Section):
    """The settings of one target; ``name`` names the target (the service's slug when absent)."""

    null_is_absent = True

    name: Text | None = None

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a mapping of keys to values"

    @classmethod
    def unknown_key(cls, key: Any) -> str:
        hint = SECRET_HINTS.get(str(key).lower())
        return f"unknown key ({hint})" if hint else "unknown key"

    def config(self) -> dict:
        """What a Target row stores: every key given, without the name."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


class KubernetesSettings(TargetSettings):
    kubeconfig: FilePath | None = None
    in_cluster: Flag | None = None
    context: Text | None = None
    namespace: Text
    selector: LabelSelector
    deployment: Text | None = None
    actions: Flag = False  # scale and restart from the incident page
    timeout_seconds: PositiveInt | None = None

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        in_cluster = data.get("in_cluster") is True
        if in_cluster and data.get("kubeconfig"):
            return [((), "give either kubeconfig or in_cluster: true, not both")]
        if not in_cluster and not data.get("kubeconfig"):
            return [(("kubeconfig",), "required (or in_cluster: true)")]
        return []


class PostgresSettings(TargetSettings):
    dsn_env: EnvName
    pool_size_per_pod: PositiveInt | None = None
    django_migrations: Flag | None = None


class PrometheusSettings(TargetSettings):
    url: HttpUrl
    labels: Labels
    auth_header_env: EnvName | None = None
    metrics: Names | None = None  # metric and label names that differ from the defaults


def _milliseconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise refuse("must be a whole number of milliseconds (0 or more)")
    return value


def _status_code(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise refuse("must be an HTTP status code (100-599)")
    return value


def _probe_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_PROBE_TIMEOUT_SECONDS:
        raise refuse(f"must be a number of seconds above 0 and at most {MAX_PROBE_TIMEOUT_SECONDS}")
    return value


MAX_PROBE_TIMEOUT_SECONDS = 30
MAX_PROBE_URLS = 20
Milliseconds = Annotated[int, BeforeValidator(_milliseconds)]
StatusCode = Annotated[int, BeforeValidator(_status_code)]
ProbeTimeout = Annotated[float, BeforeValidator(_probe_timeout)]


class TracingSettings(TargetSettings):
    """A Jaeger query service (``url``, its HTTP API) and the service name the traces are recorded under."""

    url: HttpUrl
    service: Text
    min_duration_ms: Milliseconds | None = None  # a trace this long is slow (default 1000)
    ui_url: HttpUrl | None = None  # where people open traces, when not the query URL
    auth_header_env: EnvName | None = None


class ProbeSettings(Section):
    """One URL of an http target, with what it should answer."""

    url: HttpUrl
    name: Text | None = None
    expect_status: StatusCode | None = None
    timeout_seconds: ProbeTimeout | None = None

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a URL or a mapping with url (and name, expect_status, timeout_seconds)"


def _probe_list(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise refuse("must be a non-empty list of URLs")
    if len(value) > MAX_PROBE_URLS:
        raise refuse(f"at most {MAX_PROBE_URLS} URLs per target")
    return [{"url": item} if isinstance(item, str) else item for item in value]


class HttpSettings(TargetSettings):
    """URLs probed from the worker: ``url`` for one, ``urls`` for several (each may override the defaults)."""

    url: HttpUrl | None = None
    urls: Annotated[list[ProbeSettings], BeforeValidator(_probe_list)] | None = None
    expect_status: StatusCode | None = None  # default 200
    timeout_seconds: ProbeTimeout | None = None  # default 5
    ca_file: FilePath | None = None  # extra CA certificates to trust for https (PEM, on the worker)

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        if data.get("url") and data.get("urls"):
            return [((), "give either url or urls, not both")]
        if not data.get("url") and not data.get("urls"):
            return [(("url",), "required (or urls: a list of URLs)")]
        return []


class Targets(Section):
    """A service's targets: at most one per kind."""

    kubernetes: KubernetesSettings | None = None
    postgres: PostgresSettings | None = None
    prometheus: PrometheusSettings | None = None
    tracing: TracingSettings | None = None
    http: HttpSettings | None = None

    @classmethod
    def kinds(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def not_a_mapping(cls) -> str:
        return f"must be a mapping of kind to settings ({', '.join(cls.kinds())})"

    @classmethod
    def unknown_key(cls, key: Any) -> str:
        return f"unknown target kind; use one of: {', '.join(cls.kinds())}"

    @field_validator("*", mode="before")
    @classmethod
    def _settings_given(cls, value: Any) -> Any:
        if value is None:  # `postgres:` with nothing under it
            raise refuse(TargetSettings.not_a_mapping())
        return value

    def items(self) -> list[tuple[str, TargetSettings]]:
        return [(kind, getattr(self, kind)) for kind in self.kinds() if getattr(self, kind) is not None]


TARGET_SETTINGS: dict[str, type[TargetSettings]] = {
    "kubernetes": KubernetesSettings,
    "postgres": PostgresSettings,
    "prometheus": PrometheusSettings,
    "tracing": TracingSettings,
    "http": HttpSettings,
}


def target_config_clean(kind: str, data: Any, path: str) -> tuple[dict, Errors]:
    """Validated config for a target of ``kind``; errors as (path, message) pairs."""
    if kind not in TARGET_SETTINGS:
        return {}, [(path, Targets.unknown_key(kind))]
    try:
        settings = TARGET_SETTINGS[kind].model_validate(data)
    except ValidationError as exc:
        return {}, error_list(exc, path)
    return settings.config(), []


def target_name(settings: TargetSettings, service_slug: str) -> str:
    return settings.name or service_slug
