from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents.paging.api import (
    DeliveryViewSet,
    EscalationPolicyViewSet,
    ScheduleCalendarView,
    ScheduleViewSet,
    StatusUpdateView,
)

router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.include_format_suffixes = False
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalation-policy")
router.register("deliveries", DeliveryViewSet, basename="delivery")

urlpatterns = [
    path("schedules/<int:pk>/ical", ScheduleCalendarView.as_view(), name="schedule-ical"),
    path("incidents/<int:pk>/status-updates/", StatusUpdateView.as_view(), name="incident-status-updates"),
    path("", include(router.urls)),
]
