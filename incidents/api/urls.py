from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents.api.intake import AlertmanagerWebhookView, EventsView
from incidents.api.views import AlertPayloadViewSet, IncidentViewSet, ServiceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("incidents", IncidentViewSet, basename="incident")
router.register("services", ServiceViewSet, basename="service")
router.register("alert-payloads", AlertPayloadViewSet, basename="alert-payload")

urlpatterns = [path("", include(router.urls))]

urlpatterns += [
    path("integrations/alertmanager/", AlertmanagerWebhookView.as_view(), name="intake-alertmanager"),
    path("integrations/events/", EventsView.as_view(), name="intake-events"),
]
