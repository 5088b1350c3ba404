"""Admin for paging's configuration (also set by sync_services) and its outbox records (read-only)."""

from django.contrib import admin

from incidents.paging.models import (
    Channel,
    ContactMethod,
    Delivery,
    DeliveryAttempt,
    EscalationPolicy,
    EscalationStep,
    IncidentEscalation,
    Rotation,
    Schedule,
    ScheduleOverride,
    Stakeholder,
)
from orion_ops.admin_site import RecordAdmin


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = ["user", "position", "kind"]
    list_filter = ["kind"]
    search_fields = ["user__username"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["slug", "kind", "url_env", "address"]


class RotationInline(admin.StackedInline):
    model = Rotation
    extra = 0


class OverrideInline(admin.TabularInline):
    model = ScheduleOverride
    extra = 0


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "time_zone"]
    inlines = [RotationInline, OverrideInline]


class StepInline(admin.StackedInline):
    model = EscalationStep
    extra = 0
    filter_horizontal = ["users"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_default", "repeat", "updated_at"]
    filter_horizontal = ["services"]
    inlines = [StepInline]


@admin.register(Stakeholder)
class StakeholderAdmin(admin.ModelAdmin):
    list_display = ["service", "user", "channel"]
    list_filter = ["service"]


@admin.register(IncidentEscalation)
class IncidentEscalationAdmin(RecordAdmin):
    list_display = ["incident", "policy_slug", "state", "next_index", "next_fire_at"]
    list_filter = ["state"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "contact_kind", "started_at", "latency_ms", "status_code", "ok", "permanent", "error"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(RecordAdmin):
    """The outbox. Contacts are shown because the admin is for administrators; channel URLs are never stored."""

    list_display = ["created_at", "event", "recipient", "status", "attempts", "incident"]
    list_select_related = ["incident"]
    list_filter = ["status", "event", "purpose"]
    search_fields = ["recipient"]
    inlines = [AttemptInline]
