"""Browser pages. Names are used by templates and by later issues' pages to link here."""

from django.urls import path

from incidents.web.views import (
    action_items,
    auth,
    dashboard,
    incident_live,
    incidents,
    insights,
    intake,
    reports,
    services,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("dashboard/changes/", dashboard.dashboard_changes, name="dashboard-changes"),
    path("dashboard/stamp/", dashboard.dashboard_stamp, name="dashboard-stamp"),
    path("incidents/", incidents.incident_list, name="incident-list"),
    path("incidents/new/", incidents.incident_new, name="incident-new"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/changes/", incident_live.incident_changes, name="incident-changes"),
    path("incidents/<int:pk>/transition/", incidents.incident_transition, name="incident-transition"),
    path("incidents/<int:pk>/severity/", incidents.incident_severity, name="incident-severity"),
    path("incidents/<int:pk>/commander/", incidents.incident_commander, name="incident-commander"),
    path("incidents/<int:pk>/notes/", incidents.incident_note, name="incident-note"),
    path("incidents/<int:pk>/report/", reports.report_page, name="report-page"),
    path("incidents/<int:pk>/report/edit/", reports.report_save, name="report-save"),
    path("incidents/<int:pk>/report/preview/", reports.report_preview, name="report-preview"),
    path("incidents/<int:pk>/report/draft/", reports.report_draft, name="report-draft"),
    path("incidents/<int:pk>/report/submit/", reports.report_submit, name="report-submit"),
    path("incidents/<int:pk>/report/approve/", reports.report_approve, name="report-approve"),
    path("incidents/<int:pk>/report/request-changes/", reports.report_request_changes, name="report-request-changes"),
    path("incidents/<int:pk>/report/print/", reports.report_print, name="report-print"),
    path("incidents/<int:pk>/action-items/", action_items.action_item_add, name="action-item-add"),
    path("action-items/", action_items.action_item_board, name="action-item-board"),
    path("action-items/<int:item_pk>/status/", action_items.action_item_status, name="action-item-status"),
    path("services/", services.service_list, name="service-list"),
    path("reports/", reports.report_queue, name="report-queue"),
    path("insights/", insights.insights_page, name="insights-page"),
    path("intake/", intake.intake_page, name="intake-page"),
    path("intake/payloads/<int:pk>/replay/", intake.payload_replay, name="intake-payload-replay"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
]
