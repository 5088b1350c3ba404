"""Paging's REST API: schedules and who is on call, escalation policies, deliveries, status updates."""

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import roles
from incidents.actors import Actor
from incidents.api.fields import datetime_problem
from incidents.models import Incident
from incidents.paging import calendar, oncall
from incidents.paging.models import Delivery, EscalationPolicy, EscalationStep, Schedule
from incidents.paging.notify import status_update_post
from incidents.paging.outbox import delivery_resend
from incidents.paging.serializers import (
    DeliverySerializer,
    EscalationPolicySerializer,
    OnCallSerializer,
    ScheduleSerializer,
    StatusUpdateSerializer,
)


def _at(request) -> datetime:
    raw = request.query_params.get("at")
    if raw is None:
        return timezone.now()
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise serializers.ValidationError({"at": ["Use an ISO 8601 time with its offset, e.g. 2026-12-07T09:00:00Z."]})
    problem = datetime_problem(value)
    if problem:
        raise serializers.ValidationError({"at": [problem]})
    return value.astimezone(UTC)


@extend_schema_view(
    list=extend_schema(summary="On-call schedules"), retrieve=extend_schema(summary="One on-call schedule")
)
class ScheduleViewSet(viewsets.ReadOnlyModelViewSet):
    """Schedules are configuration (``sync_services``, the admin); the API reads them and says who is on call."""

    serializer_class = ScheduleSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        return Schedule.objects.prefetch_related("rotations", "overrides__user").order_by("slug")

    @extend_schema(
        summary="Who is on call at a time (default: now), until when, and who is next",
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, description="ISO 8601 with offset")],
        responses=OnCallSerializer,
    )
    @action(detail=True, methods=["get"])
    def oncall(self, request, pk=None):
        schedule = self.get_object()
        at = _at(request)
        now = oncall.oncall(schedule, at=at)
        body = {
            "user": now.users[0] if now.users else None,
            "users": now.users,
            "until": now.until,
            "next": now.next_users,
            "at": at,
        }
        return Response(OnCallSerializer(body).data)


class ScheduleCalendarView(APIView):
    """A person's shifts in a schedule as iCalendar, for their calendar app: the secret in the URL is the key."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="iCal feed of one person's shifts (per-user secret URL)",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True, description="The person's feed secret")],
        responses={(200, "text/calendar"): OpenApiTypes.STR, 404: OpenApiResponse(description="Unknown token")},
    )
    def get(self, request, pk: int):
        user = calendar.feed_user(request.query_params.get("token", ""))
        schedule = Schedule.objects.filter(pk=pk).prefetch_related("rotations", "overrides__user").first()
        if user is None or schedule is None:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        start = timezone.now() - timedelta(days=7)
        text = calendar.ical(schedule, user=user, start=start, end=start + timedelta(days=90))
        return HttpResponse(text, content_type="text/calendar; charset=utf-8")


@extend_schema_view(
    list=extend_schema(summary="Escalation policies"),
    retrieve=extend_schema(summary="One escalation policy"),
    create=extend_schema(summary="Create an escalation policy (manager)"),
    partial_update=extend_schema(summary="Edit an escalation policy (manager); running escalations keep theirs"),
    destroy=extend_schema(summary="Delete an escalation policy (manager)"),
)
class EscalationPolicyViewSet(viewsets.ModelViewSet):
    serializer_class = EscalationPolicySerializer
    lookup_value_converter = "int"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_roles = {"create": roles.MANAGER, "partial_update": roles.MANAGER, "destroy": roles.MANAGER}

    def get_queryset(self):
        return EscalationPolicy.objects.prefetch_related(
            "services", "steps__users", "steps__schedule", "steps__channel"
        ).order_by("slug")

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    @transaction.atomic
    def _save(self, serializer):
        steps = serializer.validated_data.pop("steps", None)
        policy = serializer.save()
        if steps is not None:
            policy.steps.all().delete()
            for position, spec in enumerate(steps):
                step = EscalationStep.objects.create(
                    policy=policy,
                    position=position,
                    schedule=spec.get("schedule"),
                    channel=spec.get("channel"),
                    wait_minutes=spec.get("wait_minutes"),
                )
                step.users.set(spec.get("users", []))
        serializer.instance = self.get_queryset().get(pk=policy.pk)


@extend_schema_view(
    list=extend_schema(
        summary="Deliveries (the outbox) with their attempts",
        parameters=[
            OpenApiParameter("incident", OpenApiTypes.INT),
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=["pending", "sending", "retrying", "delivered", "failed"]
            ),
        ],
    ),
    retrieve=extend_schema(summary="One delivery with its attempts"),
)
class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DeliverySerializer
    lookup_value_converter = "int"
    required_roles = {"resend": roles.ENGINEER}

    def get_queryset(self):
        queryset = Delivery.objects.prefetch_related("attempt_log").order_by("-created_at", "-id")
        params = self.request.query_params
        if "incident" in params:
            if not params["incident"].isdigit():
                raise serializers.ValidationError({"incident": ["An incident id (an integer)."]})
            queryset = queryset.filter(incident_id=int(params["incident"]))
        if "status" in params:
            if params["status"] not in {"pending", "sending", "retrying", "delivered", "failed"}:
                raise serializers.ValidationError({"status": ["One of pending, sending, retrying, delivered, failed."]})
            queryset = queryset.filter(status=params["status"])
        return queryset

    @extend_schema(summary="Send a delivery again (engineer)", request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        delivery = self.get_object()
        copy = delivery_resend(delivery=delivery, actor=Actor.for_request(request))
        copy = Delivery.objects.prefetch_related("attempt_log").get(pk=copy.pk)
        return Response(DeliverySerializer(copy).data, status=status.HTTP_202_ACCEPTED)


class StatusUpdateView(APIView):
    required_roles = {"POST": roles.ENGINEER}

    @extend_schema(
        summary="Post a status update to the stakeholders and the timeline (engineer)",
        request=StatusUpdateSerializer,
        responses={201: OpenApiResponse(description="{id, text, recipients}")},
    )
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        form = StatusUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        entry, recipients = status_update_post(
            incident=incident, actor=Actor.for_request(request), text=form.validated_data["text"]
        )
        return Response({"id": entry.pk, "text": entry.text, "recipients": recipients}, status=status.HTTP_201_CREATED)
