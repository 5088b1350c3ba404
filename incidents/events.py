"""Incident events, announced inside the transaction that causes them.

Paging writes its outbox rows here, so a notification exists if and only if the
event committed. A hook gets ``(incident, kind, data)`` and runs in the caller's
transaction: what it writes commits or rolls back with the event. Hooks are
registered in an ``AppConfig.ready()``; kinds are:

- ``opened`` (``{}``),
- ``status_changed`` (``{"old", "new", "reopened", "actor"}``),
- ``severity_changed`` (``{"old", "new"}``),
- ``sla_breached`` (``{}``).
"""

from collections.abc import Callable

from incidents.models import Incident

Hook = Callable[[Incident, str, dict], None]

_hooks: list[Hook] = []


def on_event(hook: Hook) -> Hook:
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def event_emit(*, incident: Incident, kind: str, data: dict | None = None) -> None:
    for hook in _hooks:
        hook(incident, kind, data or {})
