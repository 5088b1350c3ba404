"""Diagnostics REST endpoints, under /api/v1/."""

from django.urls import path

from diagnostics.api import IncidentDiagnosticsView, IncidentMitigationsView

urlpatterns = [
    path("incidents/<int:incident_id>/diagnostics/", IncidentDiagnosticsView.as_view(), name="incident-diagnostics"),
    path("incidents/<int:incident_id>/mitigations/", IncidentMitigationsView.as_view(), name="incident-mitigations"),
]
