from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents.api.views import IncidentViewSet, ServiceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("incidents", IncidentViewSet, basename="incident")
router.register("services", ServiceViewSet, basename="service")

urlpatterns = [path("", include(router.urls))]
