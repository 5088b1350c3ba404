from django.db import connection
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from incidents import lifecycle, roles, selectors
from incidents.actors import Actor
from incidents.api.filters import IncidentFilter
from incidents.api.idempotency import idempotent
from incidents.api.pagination import IncidentPagination, Pagination
from incidents.api.serializers import (
    AcknowledgeSerializer,
    AlertPayloadSerializer,
    IncidentAlertSerializer,
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentListSerializer,
    IncidentUpdateSerializer,
    NoteSerializer,
    ServiceSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
    incident_list_represent,
    incident_list_values,
)
from incidents.models import AlertPayload, Incident, Service, Source, Status
from incidents.services import incident_create, incident_update, note_add

CONFLICT = OpenApiResponse(
    inline_serializer("Conflict", {"detail": serializers.CharField(), "status": serializers.CharField()}),
    description="Illegal move, or another client moved the incident first.",
)


@extend_schema_view(
    list=extend_schema(summary="List incidents", responses=IncidentListSerializer(many=True)),
    retrieve=extend_schema(summary="Get one incident", responses=IncidentDetailSerializer),
)
class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_converter = "int"
    filterset_class = IncidentFilter
    pagination_class = IncidentPagination
    required_roles = {"timeline": roles.VIEWER, "alerts": roles.VIEWER}

    def get_queryset(self):
        if self.action == "list":
            return selectors.incidents_for_list()
        return selectors.incidents_for_detail()

    def get_serializer_class(self):
        return IncidentListSerializer if self.action == "list" else IncidentDetailSerializer

    def filter_queryset(self, queryset):
        # A list asked for without filters: the filter set would only validate an empty form.
        if self.action == "list" and not self.request.query_params.keys() & IncidentFilter.base_filters.keys():
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        if connection.vendor != "postgresql":
            # The embedded SQLite database: the serializer over the incidents, paged the same way.
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(IncidentListSerializer(page, many=True).data)
        # IncidentListSerializer's output (and schema), built from plain values of one statement per page.
        page = self.paginate_queryset(incident_list_values(queryset))
        return self.get_paginated_response(incident_list_represent(page))

    def _detail(self, incident, *, code=status.HTTP_200_OK, headers=None):
        fresh = selectors.incidents_for_detail().get(pk=incident.pk)
        return Response(
            IncidentDetailSerializer(fresh, context={"request": self.request}).data, status=code, headers=headers
        )

    @extend_schema(
        summary="File an incident",
        request=IncidentCreateSerializer,
        responses={
            201: IncidentDetailSerializer,
            409: OpenApiResponse(description="Same Idempotency-Key in flight"),
            422: OpenApiResponse(description="Same Idempotency-Key, different body"),
        },
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        form = IncidentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        actor = Actor.for_request(request)
        incident = incident_create(
            actor=actor,
            source=Source.API if actor.kind == "api" else Source.MANUAL,
            **form.validated_data,
        )
        location = f"/api/v1/incidents/{incident.pk}/"
        return self._detail(incident, code=status.HTTP_201_CREATED, headers={"Location": location})

    @extend_schema(
        summary="Edit an incident",
        request=IncidentUpdateSerializer,
        responses={200: IncidentDetailSerializer, 409: CONFLICT},
    )
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        form = IncidentUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        incident = incident_update(incident=incident, actor=Actor.for_request(request), **form.validated_data)
        return self._detail(incident)

    @extend_schema(
        summary="Move an incident to another state",
        request=TransitionSerializer,
        responses={200: IncidentDetailSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        incident = self.get_object()
        form = TransitionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        incident = lifecycle.transition(
            incident,
            data["to"],
            actor=Actor.for_request(request),
            note=data["note"],
            resolution=data.get("resolution"),
            duplicate_of_id=data.get("duplicate_of"),
            expected_status=data.get("expected_status"),
        )
        return self._detail(incident)

    @extend_schema(
        summary="Acknowledge an incident",
        request=AcknowledgeSerializer,
        responses={200: IncidentDetailSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        incident = self.get_object()
        form = AcknowledgeSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        incident = lifecycle.transition(
            incident, Status.ACKNOWLEDGED, actor=Actor.for_request(request), note=form.validated_data["note"]
        )
        return self._detail(incident)

    @extend_schema(
        methods=["GET"],
        summary="An incident's timeline",
        parameters=[
            OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"], description="asc (default) or desc")
        ],
        responses=TimelineEntrySerializer(many=True),
    )
    @extend_schema(
        methods=["POST"], summary="Add a note", request=NoteSerializer, responses={201: TimelineEntrySerializer}
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None, pagination_class=Pagination)
    def timeline(self, request, pk=None):
        incident = get_object_or_404(selectors.incidents_for_list(), pk=pk)
        if request.method == "POST":
            if not roles.has_role(request.user, roles.ENGINEER):
                self.permission_denied(request, message="Adding a note needs the engineer role.")
            form = NoteSerializer(data=request.data)
            form.is_valid(raise_exception=True)
            entry = note_add(incident=incident, actor=Actor.for_request(request), text=form.validated_data["text"])
            return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        order = request.query_params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise serializers.ValidationError({"order": ['Use "asc" or "desc".']})
        entries = selectors.timeline_for_incident(incident=incident, newest_first=order == "desc")
        page = self.paginator.paginate_queryset(entries, request, view=self)
        return self.paginator.get_paginated_response(TimelineEntrySerializer(page, many=True).data)

    @extend_schema(summary="Alerts attached to an incident", responses=IncidentAlertSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=Pagination)
    def alerts(self, request, pk=None):
        incident = get_object_or_404(Incident.objects.all(), pk=pk)
        alerts = incident.alerts.order_by("starts_at", "id")
        page = self.paginator.paginate_queryset(alerts, request, view=self)
        return self.paginator.get_paginated_response(IncidentAlertSerializer(page, many=True).data)


@extend_schema_view(
    destroy=extend_schema(
        responses={204: None, 409: OpenApiResponse(description="The service has incidents; it is kept.")}
    ),
)
class ServiceViewSet(viewsets.ModelViewSet):
    serializer_class = ServiceSerializer
    lookup_field = "slug"
    lookup_value_converter = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_roles = {"create": roles.MANAGER, "partial_update": roles.MANAGER, "destroy": roles.MANAGER}

    def get_queryset(self):
        return selectors.services_with_open_counts()

    def perform_create(self, serializer):
        serializer.save()
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)  # with its open_incidents

    def perform_update(self, serializer):
        serializer.save()
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance: Service):
        if instance.incidents.exists():
            from incidents.api.errors import Conflict

            raise Conflict("This service has incidents; it cannot be deleted.")
        instance.delete()


@extend_schema_view(
    list=extend_schema(summary="Raw alert payloads as received (audit)"),
    retrieve=extend_schema(summary="One raw alert payload"),
)
class AlertPayloadViewSet(viewsets.ReadOnlyModelViewSet):
    """Raw intake bodies, kept INTAKE_PAYLOAD_RETENTION_DAYS for audit and replay."""

    serializer_class = AlertPayloadSerializer
    lookup_value_converter = "int"
    required_roles = {"list": roles.ENGINEER, "retrieve": roles.ENGINEER, "replay": roles.MANAGER}

    def get_queryset(self):
        queryset = AlertPayload.objects.select_related("integration").order_by("-received_at", "-id")
        incident = self.request.query_params.get("incident")
        if incident is not None:
            if not incident.isdigit():
                raise serializers.ValidationError({"incident": ["An incident id is a number."]})
            queryset = queryset.filter(pk__in=payload_ids_of_incident(int(incident)))
        return queryset

    @extend_schema(summary="Apply a stored payload again", request=None, responses={200: AlertPayloadSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        from incidents import intake

        payload = self.get_object()
        intake.payload_process(payload.pk)
        payload.refresh_from_db()
        return Response(AlertPayloadSerializer(payload).data)


def payload_ids_of_incident(incident_id: int):
    from incidents.models import IncidentAlert

    return IncidentAlert.objects.filter(incident_id=incident_id, payload__isnull=False).values("payload_id")
