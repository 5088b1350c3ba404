from django.contrib import admin

from incidents.models import (
    AlertPayload,
    ApiToken,
    IdempotencyRecord,
    Incident,
    IncidentAlert,
    Integration,
    Service,
    Team,
    TimelineEntry,
)
from orion_ops.admin_site import RecordAdmin


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "team", "updated_at"]
    list_filter = ["team"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["owners"]
    prepopulated_fields = {"slug": ["name"]}


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    fields = ["created_at", "kind", "actor_name", "text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Status, timestamps and the SLA clock belong to the lifecycle, so they are read-only here."""

    list_display = ["reference", "title", "severity", "status", "detected_at", "ack_due_at", "commander"]
    list_filter = ["status", "severity", "source", "services"]
    search_fields = ["title", "dedup_key"]
    date_hierarchy = "detected_at"
    readonly_fields = [
        "status",
        "resolution",
        "duplicate_of",
        "detected_at",
        "acknowledged_at",
        "acknowledged_by",
        "diagnosing_at",
        "mitigated_at",
        "resolved_at",
        "reviewed_at",
        "ack_due_at",
        "sla_breached_at",
        "source",
        "dedup_key",
        "integration",
        "occurrences",
        "alert_starts_at",
        "last_seen_at",
        "alerts_resolved_at",
        "previous_incident",
        "unrouted",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = ["title", "description", "severity", "services", "commander", *readonly_fields]
    filter_horizontal = ["services"]
    inlines = [TimelineInline]
    list_select_related = ["commander"]

    def has_add_permission(self, request):
        return False  # incidents are filed through the app so they get their SLA and timeline

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # edits go through the app, which writes the timeline


@admin.register(TimelineEntry)
class TimelineEntryAdmin(RecordAdmin):
    deletable = False  # append-only
    list_display = ["incident", "kind", "created_at", "actor_name"]
    list_filter = ["kind", "actor_kind"]
    list_select_related = ["incident"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        return False  # created with `manage.py create_api_token`, which shows the secret once


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(RecordAdmin):
    list_display = ["scope", "key", "completed", "response_status", "created_at"]


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Rules are editable here; tokens are made by `manage.py create_integration`, which shows them once."""

    list_display = ["name", "kind", "grouping", "prefix", "last_used_at", "revoked_at"]
    list_filter = ["kind", "grouping"]
    readonly_fields = ["kind", "prefix", "created_at", "last_used_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        return False


@admin.register(AlertPayload)
class AlertPayloadAdmin(RecordAdmin):
    list_display = ["id", "integration", "received_at", "alert_count", "size", "status", "attempts"]
    list_filter = ["status", "integration"]
    date_hierarchy = "received_at"


@admin.register(IncidentAlert)
class IncidentAlertAdmin(RecordAdmin):
    list_display = ["incident", "fingerprint", "status", "starts_at", "last_seen_at"]
    list_filter = ["status"]
    list_select_related = ["incident"]
