"""The incident page's panels from the Review step: its report (order 40) and its action items (order 50).

Registered when the browser URLs load (``incidents.web.urls`` imports this module): the incident page
is only reachable through them, so the panels are always there before it renders.
"""

from django.db.models import Count, F, Max
from django.urls import reverse

from incidents import panels, reports
from incidents.models import ActionItem, IncidentAlert, Report, Status
from incidents.web import reads
from incidents.web.access import can_act
from incidents.web.views import action_items


def report_panel_context(request, incident) -> dict:
    report = reads.report_for_page(incident)
    return {
        "report": report,
        "report_url": reverse("report-page", args=[incident.pk]),
        "report_expected": reports.report_needed(incident),
        "can_draft": report is None and can_act(request.user) and incident.status == Status.RESOLVED,
        "severities": reads.report_severities(),
    }


def report_panel_version(incident) -> list:
    return [panels.watch(Report.objects.filter(incident=incident), Count("id"), Max("updated_at"))]


def action_items_panel_version(incident) -> list:
    return [panels.watch(ActionItem.objects.filter(incident=incident), Count("id"), Max("updated_at"))]


panels.register(
    key="report",
    title="Post-incident report",
    template="reports/_incident_panel.html",
    order=40,
    context=report_panel_context,
    version=report_panel_version,
)
panels.register(
    key="action-items",
    title="Action items",
    template="action_items/_incident_panel.html",
    order=50,
    context=action_items.panel_context,
    version=action_items_panel_version,
)


ALERTS_SHOWN = 20


def alerts_panel_context(request, incident) -> dict:
    """The alert firings attached to the incident, newest first, with links to the raw bodies as received."""
    alerts = list(incident.alerts.order_by("-last_seen_at", "-id")[:ALERTS_SHOWN])
    return {
        "alerts": alerts,
        "alerts_total": incident.occurrences,
        "can_read_payloads": can_act(request.user),  # raw bodies are for engineers (the API's rule too)
    }


def alerts_panel_version(incident) -> list:
    # Intake counts repeats on the incident row without touching its updated_at.
    alerts = IncidentAlert.objects.filter(incident=incident)
    return [F("occurrences"), panels.watch(alerts, Count("id"), Max("last_seen_at"))]


panels.register(
    key="alerts",
    title="Alerts",
    template="incidents/_alerts_panel.html",
    order=15,
    context=alerts_panel_context,
    version=alerts_panel_version,
)
