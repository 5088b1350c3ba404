"""Contexts of the incident page's panels from this app: alerts (order 15), report (40), action items (50).

Registered in ``IncidentsConfig.ready()``. A view that re-renders the page after a refused form passes
the bound form to its panel through ``panel_extra`` (see ``incident_page_render``), never on the request.
"""

from django.db.models import Count, F, Max
from django.urls import reverse

from incidents import panels, reports
from incidents.models import ActionItem, IncidentAlert, Report, Status
from incidents.web import reads
from incidents.web.access import can_act
from incidents.web.forms import ActionItemForm

ALERTS_SHOWN = 20


def report_panel_context(request, incident) -> dict:
    """The report's status, or why there is none; ``report_drafting`` while the worker drafts it.

    The page's live updates re-render this panel when a ``report`` timeline entry arrives or the
    incident's status changes, so "Drafting the report…" turns into the draft without a reload.
    """
    report = reads.report_for_page(incident)
    drafting = reports.report_drafting(incident, report)
    overdue = drafting and reports.report_draft_overdue(incident)
    return {
        "report": report,
        "report_url": reverse("report-page", args=[incident.pk]),
        "report_expected": reports.report_needed(incident),
        "report_drafting": drafting,
        "report_draft_overdue": overdue,
        # While the worker drafts, a second draft by hand would only race it; once overdue, it is the way out.
        "can_draft": report is None
        and can_act(request.user)
        and incident.status == Status.RESOLVED
        and (not drafting or overdue),
        "severities": reads.report_severities(),
    }


def report_panel_version(incident) -> list:
    return [panels.watch(Report.objects.filter(incident=incident), Count("id"), Max("updated_at"))]


def action_items_panel_version(incident) -> list:
    return [panels.watch(ActionItem.objects.filter(incident=incident), Count("id"), Max("updated_at"))]


def action_items_panel_context(request, incident) -> dict:
    """The incident's action items, and the form to add one (the refused one, re-rendered with its errors)."""
    acting = can_act(request.user)
    return {
        "action_items": reads.annotate_overdue(reads.action_items_for_incident(incident)),
        "action_item_form": ActionItemForm() if acting else None,
        "items_acting": acting,
        "origin": "incident",
        "return_to": reverse("incident-detail", args=[incident.pk]) + "#panel-action-items",
    }


def alerts_panel_context(request, incident) -> dict:
    """The alert firings attached to the incident, newest first, with links to the raw bodies as received."""
    alerts = list(incident.alerts.order_by("-last_seen_at", "-id")[:ALERTS_SHOWN])
    by_status = dict(incident.alerts.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "alerts": alerts,
        "alerts_total": incident.occurrences,
        # What the alerts are now, not how many firings arrived: a resolved alert is not "firing".
        "alerts_count": sum(by_status.values()),
        "alerts_firing": by_status.get("firing", 0),
        "alerts_resolved": by_status.get("resolved", 0),
        "can_read_payloads": can_act(request.user),  # raw bodies are for engineers (the API's rule too)
    }


def alerts_panel_version(incident) -> list:
    # Intake counts repeats on the incident row without touching its updated_at.
    alerts = IncidentAlert.objects.filter(incident=incident)
    return [F("occurrences"), panels.watch(alerts, Count("id"), Max("last_seen_at"))]
