"""Extension point for the incident page: apps add its panels (alerts, diagnostics, mitigations, report, …).

An app registers a panel in its ``AppConfig.ready()``::

    panels.register(
        key="diagnostics", title="Diagnostics", template="diagnostics/_incident_panel.html",
        order=20, context=lambda request, incident: {...},
    )

The incident page renders every registered panel, in ``order``, each with its
own context merged over the page's (``incident``, ``request``, ``can_act``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    order: int = 50
    context: Callable = field(default=lambda request, incident: {})


_panels: dict[str, Panel] = {}


def register(*, key: str, title: str, template: str, order: int = 50, context: Callable | None = None) -> Panel:
    panel = Panel(key=key, title=title, template=template, order=order, context=context or (lambda r, i: {}))
    _panels[key] = panel
    return panel


def registered() -> list[Panel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.key))
