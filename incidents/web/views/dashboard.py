"""The dashboard (/): open incidents by severity and deadline, kept current by a poller."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from incidents import roles
from incidents.web import live, reads
from incidents.web.access import can_act, role_required
from incidents.web.forms import DashboardFilterForm

# Rows per page of the dashboard: the most urgent first; "Show more" adds this many, up to DASHBOARD_MAX.
# Beyond that is an alert storm: show the worst, say so, and let filters narrow it.
DASHBOARD_PAGE = 100
DASHBOARD_MAX = 1000
# More changed rows than this in one poll: the page reloads instead of patching.
CHANGES_LIMIT = 200


@require_GET
@role_required(roles.VIEWER)
def dashboard(request):
    filter_form = DashboardFilterForm(request.GET)
    filters = filter_form.filters()
    cursor, _ = live.cursor_now()
    shown = _rows_to_show(request.GET.get("show"))
    incidents = list(reads.dashboard_incidents(filters=filters, user=request.user)[: shown + 1])
    truncated = len(incidents) > shown
    more = request.GET.copy()
    more["show"] = shown + DASHBOARD_PAGE
    service_field = filter_form.fields["service"]
    return render(
        request,
        "incidents/dashboard.html",
        {
            "incidents": incidents[:shown],
            "truncated": truncated,
            "limit": shown,
            "more_url": f"{reverse('dashboard')}?{more.urlencode()}" if shown < DASHBOARD_MAX else "",
            "page_size": DASHBOARD_PAGE,
            "stamp_token": live.stamp_token(request.user),
            "events_url": settings.LIVE_EVENTS_URL,
            "counts": reads.severity_counts(),
            "filter_form": filter_form,
            "service_slugs": service_field.queryset.values_list(service_field.to_field_name, flat=True),
            "service_chosen": filter_form.data.get("service", ""),
            "filtered": bool(filters),
            "cursor": cursor,
            "can_act": can_act(request.user),
        },
    )


def _rows_to_show(raw: str | None) -> int:
    """``?show=N``: N rows (a multiple of DASHBOARD_PAGE, at most DASHBOARD_MAX); anything else is one page."""
    if raw and raw.isdigit():
        return min(max(DASHBOARD_PAGE, int(raw) // DASHBOARD_PAGE * DASHBOARD_PAGE), DASHBOARD_MAX)
    return DASHBOARD_PAGE


@require_GET
@never_cache
def dashboard_stamp(request):
    """When any incident last changed (ms), for the page's one-second check; the page then asks what changed.

    With the page's signed token (``t``, made for the viewer the page was rendered
    for) it is answered without the session, the user or a query per request: the
    stamp is read at most every ``live.STAMP_CACHE_SECONDS`` per process, and it
    tells nothing but a time. Without a token it needs a viewer's session.
    """
    token = request.GET.get("t")
    if token is None:
        return _stamp_for_session(request)
    status, body = live.stamp_reply(token)
    return JsonResponse(body, status=status)


@role_required(roles.VIEWER)
def _stamp_for_session(request):
    return JsonResponse({"changed": live.changed_stamp_ms()})


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
    payload["rows_html"] = live.fragment(
        "incidents/_incident_rows.html", request, incidents=rows, can_act=can_act(request.user)
    )
    payload["counts_html"] = live.fragment("incidents/_severity_counts.html", request, counts=reads.severity_counts())
    return JsonResponse(payload)
