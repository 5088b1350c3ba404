"""Reads: the querysets views and the API share, with their joins decided once."""

from django.db.models import Count, Q, QuerySet

from incidents.models import OPEN_STATUSES, Incident, Service, TimelineEntry


def incidents_for_list() -> QuerySet[Incident]:
    return Incident.objects.select_related("commander", "acknowledged_by", "integration").prefetch_related("services")


def incidents_for_detail() -> QuerySet[Incident]:
    return incidents_for_list().select_related("created_by")


def incidents_open_for_dashboard() -> QuerySet[Incident]:
    """Open incidents, most severe first, then the nearest acknowledgement deadline.

    Severities are codes that sort as they rank (``P0`` < ``P1`` < …), so the order is
    the partial index ``incident_open_by_severity``'s own: the first page reads ~100
    index entries, not every open incident.
    """
    return incidents_for_list().filter(status__in=OPEN_STATUSES).order_by("severity", "ack_due_at", "id")


def timeline_for_incident(*, incident: Incident, newest_first: bool = False) -> QuerySet[TimelineEntry]:
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    return TimelineEntry.objects.filter(incident=incident).select_related("actor_user").order_by(*order)


def services_with_open_counts() -> QuerySet[Service]:
    return (
        Service.objects.prefetch_related("owners")
        .annotate(open_incidents=Count("incidents", filter=Q(incidents__status__in=OPEN_STATUSES), distinct=True))
        .order_by("slug")
    )
