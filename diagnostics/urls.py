"""Diagnostics REST endpoints, under /api/v1/."""

from django.urls import path

from diagnostics.api import (
    ChecklistStepView,
    IncidentDiagnosticsView,
    IncidentHypothesesView,
    IncidentMitigationsView,
    IncidentRunbooksView,
    IncidentSeveritySuggestionView,
)

urlpatterns = [
    path("incidents/<int:incident_id>/diagnostics/", IncidentDiagnosticsView.as_view(), name="incident-diagnostics"),
    path("incidents/<int:incident_id>/hypotheses/", IncidentHypothesesView.as_view(), name="incident-hypotheses"),
    path(
        "incidents/<int:incident_id>/severity-suggestion/",
        IncidentSeveritySuggestionView.as_view(),
        name="incident-severity-suggestion",
    ),
    path("incidents/<int:incident_id>/runbooks/", IncidentRunbooksView.as_view(), name="incident-runbooks"),
    path(
        "incidents/<int:incident_id>/runbooks/<slug:slug>/steps/<int:number>/",
        ChecklistStepView.as_view(),
        name="incident-runbook-step",
    ),
    path("incidents/<int:incident_id>/mitigations/", IncidentMitigationsView.as_view(), name="incident-mitigations"),
]
