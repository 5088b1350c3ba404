"""The dashboard (/): open incidents by severity and deadline, kept current by a poller."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from incidents import roles
from incidents.web import live, reads
from incidents.web.access import can_act, role_required
from incidents.web.forms import DashboardFilterForm

# More open incidents than this is an alert storm: show the worst, say so, and let filters narrow it.
DASHBOARD_LIMIT = 500
# More changed rows than this in one poll: the page reloads instead of patching.
CHANGES_LIMIT = 200


@require_GET
@role_required(roles.VIEWER)
def dashboard(request):
    filter_form = DashboardFilterForm(request.GET)
    filters = filter_form.filters()
    cursor, _ = live.cursor_now()
    incidents = list(reads.dashboard_incidents(filters=filters, user=request.user)[: DASHBOARD_LIMIT + 1])
    truncated = len(incidents) > DASHBOARD_LIMIT
    return render(
        request,
        "incidents/dashboard.html",
        {
            "incidents": incidents[:DASHBOARD_LIMIT],
            "truncated": truncated,
            "limit": DASHBOARD_LIMIT,
            "counts": reads.severity_counts(),
            "filter_form": filter_form,
            "filtered": bool(filters),
            "cursor": cursor,
            "can_act": can_act(request.user),
        },
    )


@require_GET
@role_required(roles.VIEWER)
def dashboard_changes(request):
    """What changed since ``since``: rows to insert or replace (HTML), ids to remove, fresh counts.

    Answers with the same filters as the page (``status``, ``severity``, ``service``, ``mine``).
    """
    since = live.cursor_parse(request.GET.get("since"))
    if since is None:
        return live.bad_cursor()
    cursor, _ = live.cursor_now()
    payload = {"cursor": cursor, "server_time": live.server_time_ms(), "rows_html": "", "removed": []}
    changed_ids = reads.incident_ids_changed_since(since - live.CURSOR_OVERLAP)
    if not changed_ids:
        return JsonResponse(payload)
    if len(changed_ids) > CHANGES_LIMIT:
        payload["resync"] = True
        return JsonResponse(payload)
    filters = DashboardFilterForm(request.GET).filters()
    rows = list(reads.dashboard_incidents(filters=filters, user=request.user).filter(pk__in=changed_ids))
    shown = {incident.pk for incident in rows}
    payload["removed"] = sorted(pk for pk in changed_ids if pk not in shown)
    query = request.GET.copy()
    query.pop("since", None)
    return_to = reverse("dashboard") + (f"?{query.urlencode()}" if query else "")
    payload["rows_html"] = live.fragment(
        "incidents/_incident_rows.html", request, incidents=rows, can_act=can_act(request.user), return_to=return_to
    )
    payload["counts_html"] = live.fragment("incidents/_severity_counts.html", request, counts=reads.severity_counts())
    return JsonResponse(payload)
