"""The demo seed's extension point: other apps add their recorded demo data to the seeded incidents.

``seed_demo`` files the demo incidents and then calls ``seeded`` with them by name
(``{"pool": …, "crashloop": …}``); an app registers a hook with ``on_seeded`` from
its ``AppConfig.ready()`` (diagnostics stores its recorded runs this way, since
incidents never imports diagnostics).
"""

from collections.abc import Callable

from incidents.models import Incident

_seeded_hooks: list[Callable[[dict[str, Incident]], None]] = []


def on_seeded(hook: Callable[[dict[str, Incident]], None]) -> Callable[[dict[str, Incident]], None]:
    if hook not in _seeded_hooks:
        _seeded_hooks.append(hook)
    return hook


def seeded(incidents: dict[str, Incident]) -> None:
    """Run every registered hook on the freshly seeded demo incidents."""
    for hook in _seeded_hooks:
        hook(incidents)
