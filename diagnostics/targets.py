"""Target configuration: the keys each kind accepts, validated in one place.

Used by ``sync_services`` (errors carry their path in the file) and by the
admin form. A secret is never accepted as a value: DSNs and tokens are named
by environment variable (``dsn_env``, ``auth_header_env``), and messages never
echo a value that could be one. Which variables may be named is decided by
``orion_ops.secret_env`` (``ORION_TARGET_*`` and ``TARGET_SECRET_ENV``, never a
setting of Orion Ops itself).
"""

import re
from urllib.parse import urlparse

from diagnostics.models import TargetKind
from orion_ops.secret_env import secret_env_refusal

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

Errors = list[tuple[str, str]]

# kind → key → (type description, required)
KEYS: dict[str, dict[str, tuple[str, bool]]] = {
    TargetKind.KUBERNETES: {
        "name": ("text", False),
        "kubeconfig": ("path", False),
        "in_cluster": ("boolean", False),
        "context": ("text", False),
        "namespace": ("text", True),
        "selector": ("label selector", True),
        "deployment": ("text", False),
        "actions": ("boolean", False),
        "timeout_seconds": ("positive integer", False),
    },
    TargetKind.POSTGRES: {
        "name": ("text", False),
        "dsn_env": ("environment variable name", True),
        "pool_size_per_pod": ("positive integer", False),
        "django_migrations": ("boolean", False),
    },
    TargetKind.PROMETHEUS: {
        "name": ("text", False),
        "url": ("http(s) URL", True),
        "labels": ("mapping of label names to values", True),
        "auth_header_env": ("environment variable name", False),
        "metrics": ("mapping of names", False),
    },
}

# Keys people write by mistake when they mean to reference a secret.
SECRET_HINTS = {
    "dsn": "put the DSN in an environment variable and name it with dsn_env",
    "password": "put the DSN in an environment variable and name it with dsn_env",
    "auth_header": "put the header in an environment variable and name it with auth_header_env",
    "token": "put the token in an environment variable and name it with auth_header_env",
}


def _check_value(kind_desc: str, value, path: str, errors: Errors) -> None:
    if kind_desc in ("text", "path", "label selector"):
        if not isinstance(value, str) or not value.strip():
            errors.append((path, f"must be non-empty {kind_desc}"))
    elif kind_desc == "boolean":
        if not isinstance(value, bool):
            errors.append((path, "must be true or false"))
    elif kind_desc == "positive integer":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append((path, "must be a positive integer"))
    elif kind_desc == "environment variable name":
        if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
            errors.append((path, "must be the NAME of an environment variable (letters, digits, _), not its value"))
        elif refusal := secret_env_refusal(value):
            errors.append((path, refusal))
    elif kind_desc == "http(s) URL":
        parsed = urlparse(value) if isinstance(value, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
            errors.append((path, "must be an http:// or https:// URL"))
        elif parsed.username or parsed.password:
            errors.append((path, "must not contain credentials; name an environment variable with auth_header_env"))
    elif kind_desc.startswith("mapping"):
        if not isinstance(value, dict) or not value:
            errors.append((path, f"must be a non-empty {kind_desc}"))
        else:
            for key, item in value.items():
                if not isinstance(key, str) or not isinstance(item, str) or not item:
                    errors.append((f"{path}.{key}", "must be text"))


def target_config_clean(kind: str, data, path: str) -> tuple[dict, Errors]:
    """Validated config for a target of ``kind``; errors as (path, message) pairs."""
    errors: Errors = []
    if kind not in KEYS:
        return {}, [(path, f"unknown target kind; use one of: {', '.join(KEYS)}")]
    if not isinstance(data, dict):
        return {}, [(path, "must be a mapping of keys to values")]
    allowed = KEYS[kind]
    for key in data:
        if key not in allowed:
            hint = SECRET_HINTS.get(str(key).lower())
            errors.append((f"{path}.{key}", f"unknown key ({hint})" if hint else "unknown key"))
    for key, (desc, required) in allowed.items():
        if key not in data or data[key] is None:
            if required:
                errors.append((f"{path}.{key}", "required"))
            continue
        _check_value(desc, data[key], f"{path}.{key}", errors)
    if kind == TargetKind.KUBERNETES:
        in_cluster = data.get("in_cluster") is True
        if in_cluster and data.get("kubeconfig"):
            errors.append((path, "give either kubeconfig or in_cluster: true, not both"))
        elif not in_cluster and not data.get("kubeconfig"):
            errors.append((f"{path}.kubeconfig", "required (or in_cluster: true)"))
    clean = {key: value for key, value in data.items() if key in allowed and key != "name" and value is not None}
    if kind == TargetKind.KUBERNETES:
        clean.setdefault("actions", False)
    return clean, errors


def target_name(kind: str, data: dict, service_slug: str) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name.strip() else service_slug
