from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.scoping import IncidentScopedManager, PayloadScopedManager, ScopedByIncidentManager


class Severity(models.TextChoices):
    P0 = "P0", "P0 – Critical"
    P1 = "P1", "P1 – High"
    P2 = "P2", "P2 – Medium"
    P3 = "P3", "P3 – Low"


class Status(models.TextChoices):
    DETECTED = "detected", "Detected"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DIAGNOSING = "diagnosing", "Diagnosing"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    REVIEWED = "reviewed", "Reviewed"


OPEN_STATUSES = (Status.DETECTED, Status.ACKNOWLEDGED, Status.DIAGNOSING, Status.MITIGATED)


class Resolution(models.TextChoices):
    FIXED = "fixed", "Fixed"
    FALSE_ALARM = "false_alarm", "False alarm"
    DUPLICATE = "duplicate", "Duplicate"
    AUTO_RESOLVED = "auto_resolved", "Auto-resolved"


class Source(models.TextChoices):
    MANUAL = "manual", "Filed by a person"
    API = "api", "REST API"
    ALERTMANAGER = "alertmanager", "Alertmanager"
    EVENTS = "events", "Events API"


class Team(models.Model):
    """People who own services. With TEAM_SCOPED=1 they see only their services' incidents."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="orion_teams")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Service(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_services")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="services")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Incident(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20000)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DETECTED)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    services = models.ManyToManyField(Service, blank=True, related_name="incidents")
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # One timestamp per state.
    detected_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    diagnosing_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    ack_due_at = models.DateTimeField()
    sla_breached_at = models.DateTimeField(null=True, blank=True)

    # Alert intake: where it came from and how repeats find it.
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    dedup_key = models.CharField(max_length=255, blank=True)
    integration = models.ForeignKey(
        "Integration", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    alert_starts_at = models.DateTimeField(null=True, blank=True, help_text="startsAt of the firing that opened it.")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last time an alert for it arrived.")
    occurrences = models.PositiveIntegerField(default=0, help_text="Distinct alert firings attached.")
    alerts_resolved_at = models.DateTimeField(null=True, blank=True, help_text="When its alerts all cleared.")
    previous_incident = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recurrences",
        help_text="The earlier incident with the same alert key (seen before).",
    )
    unrouted = models.BooleanField(default=False, help_text="No service matched the alert's labels.")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentScopedManager()

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [
            # Dashboard: open incidents by severity, then deadline.
            models.Index(
                fields=["severity", "ack_due_at"],
                name="incident_open_by_severity",
                condition=Q(status__in=OPEN_STATUSES),
            ),
            # SLA sweep: unacknowledged incidents whose deadline passed.
            models.Index(
                fields=["ack_due_at"],
                name="incident_unacked_due",
                condition=Q(status="detected", sla_breached_at__isnull=True),
            ),
            models.Index(fields=["status", "-detected_at"], name="incident_status_detected"),
            # Lists and their keyset pages: the default order, all incidents and open ones.
            models.Index(fields=["-detected_at", "-id"], name="incident_list_order"),
            models.Index(
                fields=["-detected_at", "-id"],
                name="incident_open_list_order",
                condition=Q(status__in=OPEN_STATUSES),
            ),
            # The dashboard's poller asks what changed since its last look.
            models.Index(fields=["updated_at"], name="incident_updated"),
            models.Index(
                fields=["integration", "dedup_key", "-detected_at"],
                name="incident_by_alert_key",
                condition=~Q(dedup_key=""),
            ),
        ]
        constraints = [
            # An alert key has at most one open incident: concurrent deliveries of
            # the same alert cannot open two.
            models.UniqueConstraint(
                fields=["integration", "dedup_key"],
                condition=Q(status__in=OPEN_STATUSES) & ~Q(dedup_key="") & Q(integration__isnull=False),
                name="one_open_incident_per_alert_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TimelineKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    SEVERITY_CHANGED = "severity_changed", "Severity changed"
    COMMANDER_CHANGED = "commander_changed", "Commander changed"
    SERVICES_CHANGED = "services_changed", "Services changed"
    DETAILS_CHANGED = "details_changed", "Details changed"
    NOTE = "note", "Note"
    ALERT_FIRED = "alert_fired", "Alert fired"
    ALERT_RESOLVED = "alert_resolved", "Alert resolved"
    DIAGNOSTIC = "diagnostic", "Diagnostic"
    HYPOTHESIS = "hypothesis", "Likely cause"
    SLA_BREACHED = "sla_breached", "SLA breached"
    MITIGATION = "mitigation", "Mitigation"
    RUNBOOK_STEP = "runbook_step", "Runbook step"
    ACTION_ITEM = "action_item", "Action item"
    REPORT = "report", "Report"
    ESCALATION = "escalation", "Escalation step"
    PAGE = "page", "Page"
    STATUS_UPDATE = "status_update", "Status update"


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    API = "api", "API client"
    INTEGRATION = "integration", "Integration"
    SYSTEM = "system", "System"


class TimelineEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("timeline entries are append-only")

    def delete(self):
        raise TypeError("timeline entries are append-only")


# A note on the timeline, and the note that goes with a move: one limit for the API, the forms and the domain.
NOTE_MAX_LENGTH = 20_000


class TimelineEntry(models.Model):
    """One line of an incident's history. Written once, never edited."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=32, choices=TimelineKind.choices)
    created_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    text = models.TextField(max_length=NOTE_MAX_LENGTH)
    data = models.JSONField(default=dict, blank=True)

    objects = ScopedByIncidentManager.from_queryset(TimelineEntryQuerySet)()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [models.Index(fields=["incident", "created_at", "id"], name="timeline_by_incident")]
        constraints = [
            # The SLA sweep may run twice at once; the database keeps one breach.
            models.UniqueConstraint(
                fields=["incident"], condition=Q(kind="sla_breached"), name="one_sla_breach_per_incident"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("timeline entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("timeline entries are append-only")


class ApiToken(models.Model):
    """A bearer token for scripts and tools. Only its SHA-256 digest is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise the token.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """The first response to a request carrying an Idempotency-Key, replayed for repeats."""

    scope = models.CharField(max_length=64, help_text="The client: user or token.")
    key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Alertmanager webhook"
    EVENTS = "events", "Events API v2 (PagerDuty format)"


class Grouping(models.TextChoices):
    GROUP_KEY = "group_key", "Alertmanager groupKey (one incident per notification group)"
    FINGERPRINT = "fingerprint", "Alert fingerprint (one incident per alert)"


def default_severity_map() -> dict:
    return {"critical": "P1", "error": "P2", "warning": "P2", "info": "P3"}


def default_priority_labels() -> list:
    return ["orion_severity", "priority"]


def default_service_labels() -> list:
    return ["service", "app", "job"]


class Integration(models.Model):
    """A monitoring system allowed to file incidents, with its token and mapping rules."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=IntegrationKind.choices)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    severity_label = models.CharField(max_length=100, default="severity")
    severity_map = models.JSONField(default=default_severity_map, help_text="Label value → P0..P3.")
    priority_labels = models.JSONField(
        default=default_priority_labels, help_text="Labels holding P0..P3 directly; they win over severity."
    )
    default_severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P2)
    service_labels = models.JSONField(default=default_service_labels, help_text="Tried in order against service slugs.")
    grouping = models.CharField(max_length=16, choices=Grouping.choices, default=Grouping.GROUP_KEY)
    resolve_acknowledged = models.BooleanField(
        default=False, help_text="Also resolve incidents people already acknowledged when the alert clears."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class PayloadStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class AlertPayload(models.Model):
    """A raw body as received, stored before the sender gets its 2xx: kept for audit and replay."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="payloads")
    received_at = models.DateTimeField(db_index=True)
    body = models.TextField()
    size = models.PositiveIntegerField()
    alert_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=PayloadStatus.choices, default=PayloadStatus.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    rejected = models.JSONField(
        default=list, blank=True, help_text="Alerts or alert keys that were refused, with the reasons."
    )

    objects = PayloadScopedManager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["received_at"], name="payload_pending", condition=Q(status="pending")),
            models.Index(fields=["-received_at"], name="payload_failed", condition=Q(status="failed")),
        ]

    def __str__(self) -> str:
        return f"payload {self.pk} from {self.integration_id} ({self.alert_count} alerts)"


class IncidentAlert(models.Model):
    """One alert firing (fingerprint + startsAt) attached to an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alerts")
    payload = models.ForeignKey(AlertPayload, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    fingerprint = models.CharField(max_length=255)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, default="firing")
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    generator_url = models.URLField(max_length=2000, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "fingerprint", "starts_at"], name="one_row_per_alert_firing")
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint}@{self.starts_at:%Y-%m-%dT%H:%M:%S}"


class ReportStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"


# One section of a report: room for a long root-cause write-up with pasted logs, and a bound on what
# each save and each live preview renders. The form, the API and the preview all refuse more.
REPORT_SECTION_MAX_LENGTH = 20_000
# A manager's "what should change" when sending a report back.
REVIEW_COMMENT_MAX_LENGTH = 10_000


class Report(models.Model):
    """The post-incident report: drafted from the incident, edited by people, approved by a manager."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="report")
    status = models.CharField(max_length=20, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every save; a stale save is refused.")
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, max_length=REPORT_SECTION_MAX_LENGTH)
    root_cause = models.TextField(blank=True, max_length=REPORT_SECTION_MAX_LENGTH)
    impact = models.TextField(blank=True, max_length=REPORT_SECTION_MAX_LENGTH)
    resolution = models.TextField(blank=True, max_length=REPORT_SECTION_MAX_LENGTH)
    lessons_learned = models.TextField(blank=True, max_length=REPORT_SECTION_MAX_LENGTH)
    # The report's view of the timeline: the timeline itself stays append-only.
    pinned_entries = models.JSONField(default=list, blank=True)
    hidden_entries = models.JSONField(default=list, blank=True)
    impact_data = models.JSONField(default=dict, blank=True, help_text="Figures computed when drafted.")
    review_comment = models.TextField(blank=True, max_length=REVIEW_COMMENT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["status", "-updated_at"], name="report_queue")]

    def __str__(self) -> str:
        return f"Report for {self.incident.reference}"


class ActionItemType(models.TextChoices):
    DETECTIVE = "detective", "Detective"
    PREVENTIVE = "preventive", "Preventive"
    CORRECTIVE = "corrective", "Corrective"


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


class ActionItemPriority(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class ActionItem(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, max_length=10000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    due_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=ActionItemPriority.choices, default=ActionItemPriority.MEDIUM)
    type = models.CharField(max_length=12, choices=ActionItemType.choices, default=ActionItemType.CORRECTIVE)
    status = models.CharField(max_length=8, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_reminded_on = models.DateField(null=True, blank=True)

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["status", "due_date", "id"]
        indexes = [
            models.Index(fields=["due_date"], name="action_item_open_due", condition=Q(status="open")),
            models.Index(fields=["owner", "status"], name="action_item_owner"),
        ]

    def __str__(self) -> str:
        return self.title
