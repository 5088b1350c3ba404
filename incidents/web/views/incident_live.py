"""The incident page's live channel: one endpoint answering with every part of the page that changed.

``GET /incidents/{id}/changes/?since=<cursor>&after=<last entry id>&known=<fragment id>:<version>,…``

- ``timeline_html``: the entries the page lacks (``incidents/_timeline.html``).
- ``fragments``: ``{fragment id: html}`` for each fragment whose version differs from the one the page
  holds (``known``): the header (``incident-header``), the actions (``incident-actions``) and the body of
  every registered panel (``panel-<key>-body``). A fragment the page holds no version of is sent.
- ``versions``: every fragment's current version, for the page to send back as ``known``.

Versions come from the data, read for the whole page in one query: the incident's ``updated_at``, and
for each panel the stamps it declares (``incidents.panels``). Nothing changed costs that query and the
timeline's; only changed fragments are rendered.
"""

from django.db.models import OuterRef
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from incidents import panels, roles, selectors
from incidents.models import Incident, Status
from incidents.web import live, reads
from incidents.web.access import can_act, role_required
from incidents.web.views.incidents import actions_context

HEADER = "incident-header"
ACTIONS = "incident-actions"


def panel_fragment_id(panel: panels.Panel) -> str:
    return f"panel-{panel.key}-body"


def incident_versions(pk: int) -> tuple[str, dict[str, str]]:
    """The incident's status and the version of each fragment of its page whose data declares one.

    One query: each panel's stamps are subqueries on the incident's row. 404 for an unknown incident.
    """
    annotations, stamp_names = {}, {}
    for panel in panels.registered():
        if panel.version is None:
            continue
        names = stamp_names[panel_fragment_id(panel)] = []
        for expression in panel.version(OuterRef("pk")):
            name = f"live_{len(annotations)}"
            annotations[name] = expression
            names.append(name)
    rows = Incident.objects.filter(pk=pk).annotate(**annotations).values("status", "updated_at", *annotations)
    row = next(iter(rows.order_by()[:1]), None)
    if row is None:
        raise Http404("No such incident.")
    incident_version = live.version_token(row["updated_at"])
    versions = {HEADER: incident_version, ACTIONS: incident_version}
    for fragment, names in stamp_names.items():
        versions[fragment] = live.version_token(fragment, row["updated_at"], *(row[name] for name in names))
    return row["status"], versions


def _render_changed(request, pk: int, versions: dict[str, str], known: dict[str, str]) -> dict[str, str]:
    """Render the fragments whose version the page lacks, and every panel that declares none
    (sent only when its HTML differs from what the page holds)."""
    stale = {fragment for fragment, version in versions.items() if known.get(fragment) != version}
    unversioned = [panel for panel in panels.registered() if panel.version is None]
    if not stale and not unversioned:
        return {}
    incident = get_object_or_404(selectors.incidents_for_detail(), pk=pk)
    acting = can_act(request.user) and incident.status != Status.REVIEWED
    fragments = {}
    if HEADER in stale:
        fragments[HEADER] = live.fragment("incidents/_incident_header.html", request, incident=incident)
    if ACTIONS in stale:
        fragments[ACTIONS] = live.fragment(
            "incidents/_incident_actions.html", request, **actions_context(request, incident)
        )
    base = {"incident": incident, "request": request, "can_act": acting}
    for panel in panels.registered():
        fragment = panel_fragment_id(panel)
        if panel.version is not None and fragment not in stale:
            continue
        html = live.panel_html(panel, request, incident, base)
        if panel.version is None:
            versions[fragment] = live.html_version(html)
            if known.get(fragment) == versions[fragment]:
                continue
        fragments[fragment] = html
    return fragments


@require_GET
@role_required(roles.VIEWER)
def incident_changes(request, pk):
    since = live.cursor_parse(request.GET.get("since"))
    if since is None:
        return live.bad_cursor()
    after = request.GET.get("after", "0")
    if not after.isdigit() or len(after) > 18:
        return JsonResponse({"detail": "after must be the id of the newest timeline entry the page shows."}, status=400)
    known = live.known_parse(request.GET.get("known"))
    if known is None:
        return JsonResponse(
            {"detail": "known must be <fragment id>:<version> pairs separated by commas, as answered in versions."},
            status=400,
        )
    cursor, _ = live.cursor_now()
    # Versions first, then the renderings: a change in between is sent again at the next poll, never lost.
    status, versions = incident_versions(pk)
    entries = reads.timeline_entries_new(incident=pk, after_id=int(after), since=since - live.CURSOR_OVERLAP)
    fragments = _render_changed(request, pk, versions, known)
    return JsonResponse(
        {
            "cursor": cursor,
            "server_time": live.server_time_ms(),
            "status": status,
            "timeline_html": live.fragment("incidents/_timeline.html", request, entries=entries) if entries else "",
            "fragments": fragments,
            "versions": versions,
        }
    )
