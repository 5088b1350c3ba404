"""Reads the browser pages need beyond incidents.selectors. Each returns a queryset with its joins decided."""

from datetime import datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, Prefetch, Q, QuerySet, When
from django.utils import timezone

from incidents import roles, selectors
from incidents.models import (
    OPEN_STATUSES,
    ActionItem,
    ActionItemStatus,
    Incident,
    Report,
    ReportStatus,
    Service,
    Severity,
    Status,
    TimelineEntry,
)

# Severities whose fixed incidents get a post-incident report (DESIGN: P0–P2 by default).
DEFAULT_REPORT_SEVERITIES = (Severity.P0, Severity.P1, Severity.P2)


def _narrowed(incidents: QuerySet[Incident], filters: dict) -> QuerySet[Incident]:
    """The filters every incident list offers: status, severity, service."""
    if filters.get("status"):
        incidents = incidents.filter(status=filters["status"])
    if filters.get("severity"):
        incidents = incidents.filter(severity=filters["severity"])
    if filters.get("service"):
        incidents = incidents.filter(services=filters["service"])
    return incidents


def dashboard_incidents(*, filters: dict, user) -> QuerySet[Incident]:
    """Open incidents for the dashboard, most severe first, then nearest deadline, narrowed by filters."""
    incidents = _narrowed(selectors.incidents_open_for_dashboard(), filters)
    if filters.get("mine"):
        incidents = incidents.filter(commander=user)
    return incidents


def severity_counts() -> list[dict]:
    """Open and unacknowledged counts per severity, in one query, every severity present."""
    rows = (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .values("severity")
        .annotate(open=Count("id"), unacknowledged=Count("id", filter=Q(status=Status.DETECTED)))
    )
    by_severity = {row["severity"]: row for row in rows}
    return [
        {
            "severity": severity,
            "open": by_severity.get(severity, {}).get("open", 0),
            "unacknowledged": by_severity.get(severity, {}).get("unacknowledged", 0),
        }
        for severity in Severity.values
    ]


def incident_ids_changed_since(since: datetime) -> list[int]:
    return list(Incident.objects.filter(updated_at__gte=since).values_list("pk", flat=True))


def history_incidents(*, filters: dict) -> QuerySet[Incident]:
    """Every incident, newest first, for history and search."""
    incidents = selectors.incidents_for_list().order_by("-detected_at", "-id")
    if filters.get("q"):
        query = filters["q"].strip()
        match = Q(title__icontains=query) | Q(description__icontains=query)
        reference = query.upper().removeprefix("INC-")
        if reference.isdigit():
            match |= Q(pk=int(reference))
        incidents = incidents.filter(match)
    incidents = _narrowed(incidents, filters)
    tz = timezone.get_current_timezone()
    if filters.get("detected_after"):
        incidents = incidents.filter(detected_at__gte=datetime.combine(filters["detected_after"], time.min, tz))
    if filters.get("detected_before"):
        incidents = incidents.filter(detected_at__lte=datetime.combine(filters["detected_before"], time.max, tz))
    return incidents


def services_with_open_incidents() -> QuerySet[Service]:
    return Service.objects.order_by("slug").prefetch_related(
        "owners",
        Prefetch("incidents", queryset=selectors.incidents_open_for_dashboard(), to_attr="open_incidents"),
    )


def report_severities() -> tuple[str, ...]:
    return tuple(getattr(settings, "REPORT_SEVERITIES", DEFAULT_REPORT_SEVERITIES))


def reports_in_queue(*, status: str) -> QuerySet[Report]:
    """Reports in one review status, with their incident; in review: longest waiting first, else newest change."""
    queryset = Report.objects.filter(status=status).select_related(
        "incident", "incident__commander", "submitted_by", "updated_by", "approved_by"
    )
    queryset = queryset.prefetch_related("incident__services")
    if status == ReportStatus.IN_REVIEW:
        return queryset.order_by("submitted_at", "id")
    return queryset.order_by("-updated_at", "-id")


def report_status_counts() -> dict[str, int]:
    """How many reports are in each review status, every status present, in one query."""
    counts = dict(Report.objects.order_by().values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in ReportStatus.values}


def report_for_page(incident: Incident) -> Report | None:
    return Report.objects.select_related("updated_by", "submitted_by", "approved_by").filter(incident=incident).first()


def action_items_for_incident(incident: Incident) -> list[ActionItem]:
    """The incident's action items: open ones first, by due date."""
    return list(
        ActionItem.objects.filter(incident=incident)
        .select_related("owner")
        .annotate(open_rank=Case(When(status=ActionItemStatus.OPEN, then=0), default=1))
        .order_by("open_rank", F("due_date").asc(nulls_last=True), "id")
    )


def overdue_days(item: ActionItem, today) -> int:
    """Days past its due date for an open item, else 0."""
    if item.status != ActionItemStatus.OPEN or item.due_date is None or item.due_date >= today:
        return 0
    return (today - item.due_date).days


def annotate_overdue(items: list[ActionItem]) -> list[ActionItem]:
    """Each item with ``overdue_days`` for the templates."""
    today = timezone.localdate()
    for item in items:
        item.overdue_days = overdue_days(item, today)
    return items


def action_items_board(*, filters: dict, user) -> QuerySet[ActionItem]:
    """Action items for the board (open by default), soonest due first, narrowed by filters."""
    items = ActionItem.objects.select_related("owner", "incident").prefetch_related("incident__services")
    status = filters.get("status") or ActionItemStatus.OPEN
    if status != "any":
        items = items.filter(status=status)
    if filters.get("mine"):
        items = items.filter(owner=user)
    if filters.get("overdue"):
        items = items.filter(status=ActionItemStatus.OPEN, due_date__lt=timezone.localdate())
    if filters.get("service"):
        items = items.filter(incident__services=filters["service"]).distinct()
    return items.order_by(F("due_date").asc(nulls_last=True), "id")


def action_item_counts(*, user) -> dict[str, int]:
    """Open, overdue and mine (open) in one query, for the board's summary."""
    today = timezone.localdate()
    return ActionItem.objects.filter(status=ActionItemStatus.OPEN).aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(due_date__lt=today)),
        mine=Count("id", filter=Q(owner=user)),
    )


def responders() -> QuerySet:
    """People who can command an incident: engineers, managers and superusers, by username."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name__in=(roles.ENGINEER, roles.MANAGER)) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


def timeline_entries(*, incident: Incident, newest_first: bool, limit: int | None) -> tuple[list[TimelineEntry], int]:
    """The incident's timeline (the newest ``limit`` entries when given) in the asked order, and the total."""
    total = TimelineEntry.objects.filter(incident=incident).count()
    newest = selectors.timeline_for_incident(incident=incident, newest_first=True)
    entries = list(newest[:limit] if limit else newest)
    if not newest_first:
        entries.reverse()
    return entries, total


def timeline_entries_new(*, incident: Incident, after_id: int, since: datetime | None) -> list[TimelineEntry]:
    """Entries after the last id the page has, plus any written recently (an earlier id may commit later)."""
    recent = Q(pk__gt=after_id)
    if since is not None:
        recent |= Q(created_at__gte=since)
    return list(selectors.timeline_for_incident(incident=incident).filter(recent))


def intake_integrations():
    """Integrations with their payload counts of the last 24 hours, by outcome."""
    from incidents.models import Integration, PayloadStatus

    since = timezone.now() - timezone.timedelta(hours=24)
    recent = Q(payloads__received_at__gte=since)
    return Integration.objects.annotate(
        received_24h=Count("payloads", filter=recent),
        refused_24h=Count("payloads", filter=recent & ~Q(payloads__rejected=[])),
        pending=Count("payloads", filter=Q(payloads__status=PayloadStatus.PENDING)),
        failed=Count("payloads", filter=Q(payloads__status=PayloadStatus.FAILED)),
    ).order_by("name")


def intake_payloads_needing_attention(*, limit: int = 100):
    """Payloads not applied (failed, or pending longer than the sweep's wait), then those with refused alerts."""
    from incidents.models import AlertPayload, PayloadStatus

    stale = timezone.now() - timezone.timedelta(seconds=120)
    unapplied = (
        AlertPayload.objects.select_related("integration")
        .filter(Q(status=PayloadStatus.FAILED) | Q(status=PayloadStatus.PENDING, received_at__lt=stale))
        .defer("body")
        .order_by("-received_at", "-id")[:limit]
    )
    refused = (
        AlertPayload.objects.select_related("integration")
        .filter(status=PayloadStatus.PROCESSED)
        .exclude(rejected=[])
        .defer("body")
        .order_by("-received_at", "-id")[:limit]
    )
    return list(unapplied), list(refused)
