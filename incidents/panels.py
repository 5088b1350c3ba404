"""Extension point for the incident page: apps add its panels (alerts, diagnostics, mitigations, report, …).

An app registers a panel in its ``AppConfig.ready()``::

    panels.register(
        key="diagnostics", title="Diagnostics", template="diagnostics/_incident_panel.html",
        order=20, context=lambda request, incident: {...},
        version=lambda incident: [panels.watch(DiagnosticRun.objects.filter(incident=incident), Count("id"), ...)],
    )

The incident page renders every registered panel, in ``order``, each with its
own context merged over the page's (``incident``, ``request``, ``can_act``).

The page's live channel (``incidents.web.views.incident_live``) sends a panel
again when its ``version`` changes: query expressions evaluated on the
incident's row (``incident`` is an ``OuterRef`` to it, for subqueries), read
for every panel in one query. Name everything the panel shows that can change
without the incident row changing (the incident's ``updated_at`` is always part
of the version). A panel without ``version`` is rendered on every poll and sent
when its HTML differs: correct, but not cheap.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Expression, JSONField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import JSONArray


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    order: int = 50
    context: Callable = field(default=lambda request, incident: {})
    version: Callable[[OuterRef], list[Expression]] | None = None


_panels: dict[str, Panel] = {}


def register(
    *,
    key: str,
    title: str,
    template: str,
    order: int = 50,
    context: Callable | None = None,
    version: Callable[[OuterRef], list[Expression]] | None = None,
) -> Panel:
    panel = Panel(
        key=key, title=title, template=template, order=order, context=context or (lambda r, i: {}), version=version
    )
    _panels[key] = panel
    return panel


def registered() -> list[Panel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.key))


def watch(queryset: QuerySet, *aggregates) -> Subquery:
    """One value (a JSON array) summing up ``queryset``'s rows with ``aggregates``, e.g. ``Count("id")``,
    ``Max("updated_at")``: a change to any watched row changes it. ``queryset`` filters on the incident."""
    # Grouping by a constant groups by nothing: one row of aggregates over the whole queryset.
    rows = queryset.order_by().annotate(_all=Value(1)).values("_all")
    return Subquery(rows.annotate(stamp=JSONArray(*aggregates)).values("stamp"), output_field=JSONField())
