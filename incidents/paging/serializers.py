"""Paging's JSON: schedules, on-call, escalation policies, deliveries. No URL of a channel, no secret."""

from urllib.parse import urlparse

from django.contrib.auth import get_user_model
from rest_framework import serializers

from incidents.api.fields import DateTimeField
from incidents.models import NOTE_MAX_LENGTH, Service
from incidents.paging.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    EscalationPolicy,
    Rotation,
    Schedule,
    ScheduleOverride,
)


class RotationSerializer(serializers.ModelSerializer):
    handoff = DateTimeField()

    class Meta:
        model = Rotation
        fields = ["position", "participants", "shift_seconds", "handoff"]


class OverrideSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    start = DateTimeField()
    end = DateTimeField()

    class Meta:
        model = ScheduleOverride
        fields = ["user", "start", "end"]


class ScheduleSerializer(serializers.ModelSerializer):
    rotations = RotationSerializer(many=True, read_only=True)
    overrides = OverrideSerializer(many=True, read_only=True)

    class Meta:
        model = Schedule
        fields = ["id", "slug", "name", "time_zone", "rotations", "overrides"]
        read_only_fields = fields


class OnCallSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True, help_text="The first person on call (null: nobody).")
    users = serializers.ListField(child=serializers.CharField(), help_text="Everyone on call (one per rotation).")
    until = DateTimeField(allow_null=True, help_text="When the next hand-off or override changes it.")
    next = serializers.ListField(child=serializers.CharField(), help_text="Who is on call from `until`.")
    at = DateTimeField()


class StepSerializer(serializers.Serializer):
    schedule = serializers.SlugRelatedField(
        slug_field="slug", queryset=Schedule.objects.all(), required=False, allow_null=True
    )
    users = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), many=True, required=False
    )
    channel = serializers.SlugRelatedField(
        slug_field="slug", queryset=Channel.objects.all(), required=False, allow_null=True
    )
    wait_minutes = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 60, required=False, allow_null=True,
        help_text="Null: the incident's acknowledge target for its severity.",
    )  # fmt: skip

    def validate(self, attrs):
        if not attrs.get("schedule") and not attrs.get("users") and not attrs.get("channel"):
            raise serializers.ValidationError("A step notifies a schedule, users or a channel.")
        return attrs

    def to_representation(self, step):
        return {
            "schedule": step.schedule.slug if step.schedule else None,
            "users": [u.get_username() for u in step.users.all()],
            "channel": step.channel.slug if step.channel else None,
            "wait_minutes": step.wait_minutes,
        }


class EscalationPolicySerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True)
    services = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), many=True, required=False
    )
    updated_at = DateTimeField(read_only=True)

    class Meta:
        model = EscalationPolicy
        fields = ["id", "slug", "name", "repeat", "is_default", "services", "steps", "updated_at"]

    def validate_steps(self, steps):
        if not steps:
            raise serializers.ValidationError("A policy has at least one step.")
        return steps

    def validate_repeat(self, value):
        if value > 10:
            raise serializers.ValidationError("Repeat at most 10 times.")
        return value

    def validate_is_default(self, value):
        others = EscalationPolicy.objects.filter(is_default=True)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise serializers.ValidationError(f"{others.get().slug} is already the default policy.")
        return value


class AttemptSerializer(serializers.ModelSerializer):
    started_at = DateTimeField()

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "contact_kind", "started_at", "latency_ms", "status_code", "ok", "permanent", "error"]


def contact_label(contact: dict) -> str:
    """How a contact shows: an email address, a channel's slug, a URL's host only (the rest may be a secret)."""
    if contact.get("channel"):
        return f"#{contact['channel']}"
    address = contact.get("address", "")
    if contact.get("kind") == "email":
        return address
    return urlparse(address).hostname or "(URL)"


class DeliverySerializer(serializers.ModelSerializer):
    incident = serializers.IntegerField(source="incident_id", allow_null=True)
    contacts = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()
    created_at = DateTimeField()
    next_attempt_at = DateTimeField()
    delivered_at = DateTimeField(allow_null=True)
    attempt_log = AttemptSerializer(many=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "incident", "event", "purpose", "recipient", "contacts", "contact_index", "title", "status",
            "attempts", "next_attempt_at", "delivered_at", "last_error", "created_at", "attempt_log",
        ]  # fmt: skip
        read_only_fields = fields

    def get_contacts(self, delivery) -> list[dict]:
        return [{"kind": c["kind"], "to": contact_label(c)} for c in delivery.contacts]

    def get_title(self, delivery) -> str:
        return delivery.message.get("title", "")


class StatusUpdateSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=NOTE_MAX_LENGTH, trim_whitespace=False, allow_blank=True,
        help_text="Goes to the stakeholders of the incident's services and onto its timeline.",
    )  # fmt: skip
