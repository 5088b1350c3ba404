"""Browser pages. Names are used by templates and by later issues' pages to link here."""

from django.urls import path

from incidents.web.views import auth, dashboard, incidents, reports, services

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("dashboard/changes/", dashboard.dashboard_changes, name="dashboard-changes"),
    path("incidents/", incidents.incident_list, name="incident-list"),
    path("incidents/new/", incidents.incident_new, name="incident-new"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/changes/", incidents.incident_changes, name="incident-changes"),
    path("incidents/<int:pk>/transition/", incidents.incident_transition, name="incident-transition"),
    path("incidents/<int:pk>/severity/", incidents.incident_severity, name="incident-severity"),
    path("incidents/<int:pk>/commander/", incidents.incident_commander, name="incident-commander"),
    path("incidents/<int:pk>/notes/", incidents.incident_note, name="incident-note"),
    path("services/", services.service_list, name="service-list"),
    path("reports/", reports.report_queue, name="report-queue"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
]
