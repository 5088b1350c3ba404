from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents import lifecycle
from incidents.api.fields import DateTimeField
from incidents.models import (
    NOTE_MAX_LENGTH,
    REPORT_SECTION_MAX_LENGTH,
    REVIEW_COMMENT_MAX_LENGTH,
    ActionItem,
    AlertPayload,
    Incident,
    IncidentAlert,
    Integration,
    Report,
    Resolution,
    Service,
    Severity,
    Status,
    TimelineEntry,
)
from incidents.timeline import NOTE_TOO_LONG

User = get_user_model()


def note_field(**kwargs) -> serializers.CharField:
    """A note's text: the domain's limit, with the domain's message. Whether it may be blank is the domain's call."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("default", "")
    return serializers.CharField(
        max_length=NOTE_MAX_LENGTH, allow_blank=True, error_messages={"max_length": NOTE_TOO_LONG}, **kwargs
    )


@extend_schema_field({"type": "string", "enum": [r.value for r in lifecycle.PERSON_RESOLUTIONS], "default": "fixed"})
class ResolutionField(serializers.CharField):
    """How a move to resolved ends, checked by ``lifecycle.transition`` (the browser's rule too);
    documented as the resolutions a person may pick."""


class ServiceSerializer(serializers.ModelSerializer):
    owners = serializers.SlugRelatedField(
        slug_field="username", many=True, queryset=User.objects.filter(is_active=True), required=False
    )
    open_incidents = serializers.IntegerField(read_only=True)

    class Meta:
        model = Service
        fields = ["slug", "name", "description", "owners", "open_incidents", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class UserRefField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)


def sla_breached(*, status, ack_due_at, acknowledged_at, sla_breached_at, now) -> bool:
    """Marked breached, acknowledged late, or still unacknowledged past its deadline."""
    if sla_breached_at is not None:
        return True
    if acknowledged_at is not None:
        return acknowledged_at > ack_due_at
    return status == Status.DETECTED and now > ack_due_at


class IncidentListSerializer(serializers.ModelSerializer):
    """Rows for lists and dashboards: no description, no timeline."""

    reference = serializers.CharField(read_only=True)
    # Blank until the incident is resolved.
    resolution = serializers.ChoiceField(choices=Resolution.choices, allow_blank=True, read_only=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    commander = UserRefField(read_only=True)
    acknowledged_by = UserRefField(read_only=True)
    sla_breached = serializers.SerializerMethodField()
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "severity",
            "status",
            "resolution",
            "services",
            "commander",
            "acknowledged_by",
            "detected_at",
            "acknowledged_at",
            "diagnosing_at",
            "mitigated_at",
            "resolved_at",
            "reviewed_at",
            "ack_due_at",
            "sla_breached_at",
            "sla_breached",
            "source",
            "dedup_key",
            "integration",
            "occurrences",
            "last_seen_at",
            "alert_starts_at",
            "alerts_resolved_at",
            "previous_incident",
            "unrouted",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_sla_breached(self, incident) -> bool:
        return sla_breached(
            status=incident.status,
            ack_due_at=incident.ack_due_at,
            acknowledged_at=incident.acknowledged_at,
            sla_breached_at=incident.sla_breached_at,
            now=timezone.now(),
        )


def _incident_column(field: str) -> str:
    return f"{Incident._meta.db_table}.{Incident._meta.get_field(field).column}"


def _name_sql(model, field: str, name: str) -> str:
    """The ``name`` of the ``model`` row the incident's ``field`` points to (NULL if none)."""
    return f"(SELECT {name} FROM {model._meta.db_table} WHERE {model._meta.pk.column} = {_incident_column(field)})"  # noqa: S608 (names from the models' metadata, no values)


INCIDENT_LIST_TIMES = (
    *("detected_at", "acknowledged_at", "diagnosing_at", "mitigated_at", "resolved_at", "reviewed_at"),
    *("ack_due_at", "sla_breached_at", "last_seen_at", "alert_starts_at", "alerts_resolved_at"),
    *("created_at", "updated_at"),
)
# A list row's texts, in this order: its times in UTC to the microsecond (``2026-12-03T10:04:05.000000``,
# turned into the API's text for a fraction of what loading datetimes costs), then the names of its
# commander, of who acknowledged it and of its integration. Then its services' slugs, in the order of
# Service.Meta.ordering. Subqueries by primary key, not joins, so counting the rows joins nothing.
# Written as SQL (names from the models' metadata, no values): the ORM spent more building these
# seventeen expressions on every request than PostgreSQL spends running them.
_UTC_TEXT = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
_TEXTS_SQL = ", ".join(
    [
        *(_UTC_TEXT.format(_incident_column(time)) for time in INCIDENT_LIST_TIMES),
        _name_sql(User, "commander", User.USERNAME_FIELD),
        _name_sql(User, "acknowledged_by", User.USERNAME_FIELD),
        _name_sql(Integration, "integration", "name"),
    ]
)
_SLUGS_SQL = (
    f"SELECT (SELECT slug FROM {Service._meta.db_table} WHERE id = held.service_id) AS slug"  # noqa: S608 (names from the models' metadata, no values)
    f" FROM {Incident.services.through._meta.db_table} held"
    f" WHERE held.incident_id = {_incident_column('id')} ORDER BY slug"
)
INCIDENT_LIST_TEXTS = RawSQL(f"ARRAY[{_TEXTS_SQL}]", (), output_field=ArrayField(TextField()))  # noqa: S611
INCIDENT_LIST_SERVICE_SLUGS = RawSQL(f"ARRAY({_SLUGS_SQL})", (), output_field=ArrayField(TextField()))  # noqa: S611
# ``detected_at`` is read as a datetime too: the keyset cursor is made of it.
INCIDENT_LIST_COLUMNS = (
    *("id", "title", "severity", "status", "resolution", "source", "dedup_key", "occurrences"),
    *("previous_incident_id", "unrouted", "detected_at", "texts", "service_slugs"),
)


def incident_list_values(queryset: QuerySet[Incident]) -> QuerySet:
    """``queryset`` as rows of INCIDENT_LIST_COLUMNS: a page of incidents with their services is one statement."""
    return (
        queryset.prefetch_related(None)
        .annotate(texts=INCIDENT_LIST_TEXTS, service_slugs=INCIDENT_LIST_SERVICE_SLUGS)
        .values(*INCIDENT_LIST_COLUMNS)
    )


def incident_list_represent(rows: list[dict]) -> list[dict]:
    """What ``IncidentListSerializer(many=True)`` makes of these incidents, built from their values.

    A page is 50 rows of 29 fields; going through a field object per value cost most of the
    list's time. Times are ISO 8601 in the current time zone with ``Z`` for UTC, as DRF writes them.
    """
    zone = timezone.get_current_timezone()
    in_utc = timezone.get_current_timezone_name() == "UTC"
    now = timezone.now()

    def instant(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)

    def moment(text: str | None) -> str | None:
        if text is None:
            return None
        if in_utc:
            return (text[:-7] if text.endswith(".000000") else text) + "Z"
        local = instant(text).astimezone(zone).isoformat()
        return local[:-6] + "Z" if local.endswith("+00:00") else local

    data = []
    for row in rows:
        pk = row["id"]
        detected_at, acknowledged_at, diagnosing_at, mitigated_at, resolved_at, reviewed_at = row["texts"][:6]
        ack_due_at, sla_breached_at, last_seen_at, alert_starts_at, alerts_resolved_at = row["texts"][6:11]
        created_at, updated_at, commander, acknowledged_by, integration = row["texts"][11:]
        breached = sla_breached(
            status=row["status"],
            ack_due_at=instant(ack_due_at),
            acknowledged_at=instant(acknowledged_at),
            sla_breached_at=sla_breached_at,
            now=now,
        )
        data.append(
            {
                "id": pk,
                "reference": f"INC-{pk}",
                "title": row["title"],
                "severity": row["severity"],
                "status": row["status"],
                "resolution": row["resolution"],
                "services": row["service_slugs"],
                "commander": commander,
                "acknowledged_by": acknowledged_by,
                "detected_at": moment(detected_at),
                "acknowledged_at": moment(acknowledged_at),
                "diagnosing_at": moment(diagnosing_at),
                "mitigated_at": moment(mitigated_at),
                "resolved_at": moment(resolved_at),
                "reviewed_at": moment(reviewed_at),
                "ack_due_at": moment(ack_due_at),
                "sla_breached_at": moment(sla_breached_at),
                "sla_breached": breached,
                "source": row["source"],
                "dedup_key": row["dedup_key"],
                "integration": integration,
                "occurrences": row["occurrences"],
                "last_seen_at": moment(last_seen_at),
                "alert_starts_at": moment(alert_starts_at),
                "alerts_resolved_at": moment(alerts_resolved_at),
                "previous_incident": row["previous_incident_id"],
                "unrouted": row["unrouted"],
                "created_at": moment(created_at),
                "updated_at": moment(updated_at),
            }
        )
    return data


class IncidentDetailSerializer(IncidentListSerializer):
    duplicate_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    created_by = UserRefField(read_only=True)
    allowed_transitions = serializers.SerializerMethodField()

    class Meta(IncidentListSerializer.Meta):
        fields = [
            *IncidentListSerializer.Meta.fields,
            "description",
            "duplicate_of",
            "created_by",
            "allowed_transitions",
        ]
        read_only_fields = fields

    def get_allowed_transitions(self, incident) -> list[str]:
        return lifecycle.allowed_moves(incident.status)


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.all(), required=False
    )
    detected_at = DateTimeField(required=False)

    def validate_title(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Title cannot be blank.")
        return value

    def validate_detected_at(self, value):
        if value > timezone.now() + timezone.timedelta(minutes=5):
            raise serializers.ValidationError("detected_at cannot be in the future.")
        return value


class IncidentUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.all(), required=False
    )
    commander = UserRefField(queryset=User.objects.filter(is_active=True), required=False)

    READ_ONLY_HINTS = {
        "status": "Status changes go through POST /api/v1/incidents/{id}/transition/.",
        "resolution": "Resolution is set by the transition to resolved.",
    }

    def validate(self, attrs):
        errors = {}
        for name, hint in self.READ_ONLY_HINTS.items():
            if name in self.initial_data:
                errors[name] = [hint]
        unknown = set(self.initial_data) - set(self.fields) - set(self.READ_ONLY_HINTS)
        for name in sorted(unknown):
            errors[name] = ["This field cannot be changed."]
        if errors:
            raise serializers.ValidationError(errors)
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Nothing to change."]})
        if "title" in attrs and not attrs["title"].strip():
            raise serializers.ValidationError({"title": ["Title cannot be blank."]})
        return attrs


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Status.choices)
    note = note_field(help_text="Required when a person mitigates or resolves: say what was done.")
    resolution = ResolutionField(
        required=False,
        help_text="Only with to=resolved. auto_resolved is alert intake's; duplicate needs duplicate_of.",
    )
    duplicate_of = serializers.IntegerField(required=False, min_value=1)
    expected_status = serializers.ChoiceField(
        choices=Status.choices,
        required=False,
        help_text="The status the client saw; the move is refused with 409 if the incident has moved since.",
    )


class AcknowledgeSerializer(serializers.Serializer):
    note = note_field()


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "created_at", "actor", "text", "data"]
        read_only_fields = fields

    def get_actor(self, entry) -> dict:
        return {
            "kind": entry.actor_kind,
            "name": entry.actor_name,
            "username": entry.actor_user.get_username() if entry.actor_user else None,
        }


class NoteSerializer(serializers.Serializer):
    """A note as sent; ``services.note_add`` refuses a blank one."""

    text = note_field(required=True, default=serializers.empty)


class IncidentAlertSerializer(serializers.ModelSerializer):
    # As the sender gave it (Alertmanager's generatorURL): usually a URL, possibly empty, never validated.
    generator_url = serializers.CharField(read_only=True)

    class Meta:
        model = IncidentAlert
        fields = [
            "id",
            "fingerprint",
            "status",
            "starts_at",
            "ends_at",
            "labels",
            "annotations",
            "generator_url",
            "first_seen_at",
            "last_seen_at",
            "payload",
        ]
        read_only_fields = fields


class AlertPayloadSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True)
    body = serializers.SerializerMethodField()

    class Meta:
        model = AlertPayload
        fields = [
            *("id", "integration", "received_at", "size", "alert_count"),
            *("status", "processed_at", "error", "attempts", "rejected", "body"),
        ]
        read_only_fields = fields

    def get_body(self, payload) -> dict | list | str:
        """The body as stored (integration keys already removed), made safe to encode as UTF-8 JSON."""
        from incidents.intake import IntakeError, clean_json, json_load

        try:
            return clean_json(json_load(payload.body.encode("utf-8")))[0]
        except IntakeError:
            return payload.body


class ReportSerializer(serializers.ModelSerializer):
    incident = serializers.PrimaryKeyRelatedField(read_only=True)
    updated_by = UserRefField(read_only=True)
    submitted_by = UserRefField(read_only=True)
    approved_by = UserRefField(read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "incident",
            "status",
            "version",
            "title",
            "summary",
            "root_cause",
            "impact",
            "resolution",
            "lessons_learned",
            "pinned_entries",
            "hidden_entries",
            "impact_data",
            "review_comment",
            "created_at",
            "updated_at",
            "updated_by",
            "submitted_at",
            "submitted_by",
            "approved_at",
            "approved_by",
        ]
        read_only_fields = fields


class ReportUpdateSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you edited; a stale one is a 409.")
    title = serializers.CharField(max_length=200, required=False)
    summary = serializers.CharField(max_length=REPORT_SECTION_MAX_LENGTH, required=False, allow_blank=True)
    root_cause = serializers.CharField(max_length=REPORT_SECTION_MAX_LENGTH, required=False, allow_blank=True)
    impact = serializers.CharField(max_length=REPORT_SECTION_MAX_LENGTH, required=False, allow_blank=True)
    resolution = serializers.CharField(max_length=REPORT_SECTION_MAX_LENGTH, required=False, allow_blank=True)
    lessons_learned = serializers.CharField(max_length=REPORT_SECTION_MAX_LENGTH, required=False, allow_blank=True)
    pinned_entries = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    hidden_entries = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)

    def validate(self, attrs):
        incident = self.context["incident"]
        ids = set(attrs.get("pinned_entries", [])) | set(attrs.get("hidden_entries", []))
        if ids:
            known = set(incident.timeline.filter(pk__in=ids).values_list("pk", flat=True))
            unknown = sorted(ids - known)
            if unknown:
                raise serializers.ValidationError(
                    {"pinned_entries": [f"Not entries of this incident's timeline: {unknown}"]}
                )
        if "title" in attrs and not attrs["title"].strip():
            raise serializers.ValidationError({"title": ["Title cannot be blank."]})
        return attrs


class RequestChangesSerializer(serializers.Serializer):
    """The comment as sent; ``reports.report_request_changes`` refuses a blank one."""

    comment = serializers.CharField(
        max_length=REVIEW_COMMENT_MAX_LENGTH, required=False, allow_blank=True, default="", help_text="Required."
    )


class ActionItemSerializer(serializers.ModelSerializer):
    owner = UserRefField(queryset=User.objects.filter(is_active=True), required=False)
    created_by = UserRefField(read_only=True)
    incident = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all())
    incident_reference = serializers.CharField(source="incident.reference", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "incident",
            "incident_reference",
            "title",
            "description",
            "owner",
            "due_date",
            "priority",
            "type",
            "status",
            "overdue",
            "created_by",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at", "completed_at"]

    def get_overdue(self, item) -> bool:
        return item.status == "open" and item.due_date is not None and item.due_date < timezone.localdate()

    def validate_title(self, value):
        if not value.strip():
            raise serializers.ValidationError("Title cannot be blank.")
        return value.strip()

    def validate(self, attrs):
        if self.instance is not None and "incident" in attrs and attrs["incident"] != self.instance.incident:
            raise serializers.ValidationError({"incident": ["An action item stays with its incident."]})
        return attrs
