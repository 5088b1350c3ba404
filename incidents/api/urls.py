from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents.api.intake import AlertmanagerWebhookView, EventsView
from incidents.api.review import (
    ActionItemViewSet,
    InsightsView,
    ReportApproveView,
    ReportMarkdownView,
    ReportRequestChangesView,
    ReportSubmitView,
    ReportView,
)
from incidents.api.views import AlertPayloadViewSet, IncidentViewSet, ServiceViewSet

# Path converters, not regexes: an id that is not an integer matches no route (404), and the schema
# types it as an integer. The API speaks JSON only, so there are no ".json" suffix routes.
router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.include_format_suffixes = False
router.register("incidents", IncidentViewSet, basename="incident")
router.register("services", ServiceViewSet, basename="service")
router.register("alert-payloads", AlertPayloadViewSet, basename="alert-payload")
router.register("action-items", ActionItemViewSet, basename="action-item")

urlpatterns = [
    path("incidents/<int:pk>/report/", ReportView.as_view(), name="incident-report"),
    path("incidents/<int:pk>/report/submit/", ReportSubmitView.as_view(), name="incident-report-submit"),
    path("incidents/<int:pk>/report/approve/", ReportApproveView.as_view(), name="incident-report-approve"),
    path(
        "incidents/<int:pk>/report/request-changes/",
        ReportRequestChangesView.as_view(),
        name="incident-report-request-changes",
    ),
    path("incidents/<int:pk>/report.md", ReportMarkdownView.as_view(), name="incident-report-md"),
    path("insights/", InsightsView.as_view(), name="insights"),
    path("", include("incidents.paging.urls")),
    path("", include(router.urls)),
]

urlpatterns += [
    path("integrations/alertmanager/", AlertmanagerWebhookView.as_view(), name="intake-alertmanager"),
    path("integrations/events/", EventsView.as_view(), name="intake-events"),
]
