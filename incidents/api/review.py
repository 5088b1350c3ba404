"""REST endpoints of the Review step: reports, action items, insights."""

from datetime import UTC, datetime, time, timedelta

import django_filters
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import action_items, insights, reports, roles
from incidents.actors import Actor
from incidents.api.serializers import (
    ActionItemSerializer,
    ReportSerializer,
    ReportUpdateSerializer,
    RequestChangesSerializer,
)
from incidents.models import (
    ActionItem,
    ActionItemPriority,
    ActionItemStatus,
    ActionItemType,
    Incident,
    Report,
    Service,
)

REPORT_CONFLICT = OpenApiResponse(description="Out of order, or a stale version: `{detail, status, version}`.")
SELF_APPROVAL = OpenApiResponse(
    description="No role to approve, or you submitted this report yourself: `{detail}` / `{detail, status}`."
)


class ReportView(APIView):
    """GET the incident's report, PUT edits (with the version you edited), POST to draft one by hand."""

    required_roles = {"GET": roles.VIEWER, "HEAD": roles.VIEWER, "PUT": roles.ENGINEER, "POST": roles.ENGINEER}

    def _incident(self, pk) -> Incident:
        return get_object_or_404(Incident.objects.all(), pk=pk)

    def _report(self, pk) -> Report:
        incident = self._incident(pk)
        report = Report.objects.filter(incident=incident).select_related("incident").first()
        if report is None:
            from rest_framework.exceptions import NotFound

            if reports.report_drafting(incident, None):
                raise NotFound(f"{incident.reference}'s report is being drafted; ask again in a moment.")
            raise NotFound(
                f"{incident.reference} has no report. Reports are drafted when a P0–P2 incident is resolved as "
                "fixed; POST here to draft one for another resolved incident."
            )
        return report

    @extend_schema(summary="The incident's post-incident report", responses=ReportSerializer, tags=["reports"])
    def get(self, request, pk):
        return Response(ReportSerializer(self._report(pk)).data)

    @extend_schema(
        summary="Edit the report",
        request=ReportUpdateSerializer,
        responses={200: ReportSerializer, 409: REPORT_CONFLICT},
        tags=["reports"],
    )
    def put(self, request, pk):
        report = self._report(pk)
        form = ReportUpdateSerializer(data=request.data, context={"incident": report.incident})
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        version = changes.pop("version")
        report = reports.report_update(
            report=report, actor=Actor.for_request(request), version=version, changes=changes
        )
        return Response(ReportSerializer(report).data)

    @extend_schema(
        summary="Draft a report for a resolved incident that did not get one",
        request=None,
        responses={201: ReportSerializer, 409: REPORT_CONFLICT},
        tags=["reports"],
    )
    def post(self, request, pk):
        incident = self._incident(pk)
        report = reports.report_draft_request(incident_id=incident.pk, actor=Actor.for_request(request))
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)


class ReportStepView(APIView):
    step: str = ""
    required_roles = {"POST": roles.ENGINEER}

    def post(self, request, pk):
        report = get_object_or_404(Report.objects.select_related("incident"), incident_id=pk)
        actor = Actor.for_request(request)
        if self.step == "submit":
            report = reports.report_submit(report=report, actor=actor)
        elif self.step == "approve":
            report = reports.report_approve(report=report, actor=actor)
        else:
            form = RequestChangesSerializer(data=request.data)
            form.is_valid(raise_exception=True)
            report = reports.report_request_changes(report=report, actor=actor, comment=form.validated_data["comment"])
        return Response(ReportSerializer(report).data)


class ReportSubmitView(ReportStepView):
    step = "submit"

    @extend_schema(
        summary="Submit the report for review",
        request=None,
        responses={200: ReportSerializer, 409: REPORT_CONFLICT},
        tags=["reports"],
    )
    def post(self, request, pk):
        return super().post(request, pk)


class ReportApproveView(ReportStepView):
    step = "approve"
    required_roles = {"POST": roles.MANAGER}

    @extend_schema(
        summary="Approve the report (manager); the incident becomes reviewed",
        description="A manager other than the one who submitted the report approves it, unless "
        "`REPORT_SELF_APPROVAL=1` (then 403 `{detail, status}` for the submitter).",
        request=None,
        responses={200: ReportSerializer, 403: SELF_APPROVAL, 409: REPORT_CONFLICT},
        tags=["reports"],
    )
    def post(self, request, pk):
        return super().post(request, pk)


class ReportRequestChangesView(ReportStepView):
    step = "request-changes"
    required_roles = {"POST": roles.MANAGER}

    @extend_schema(
        summary="Send the report back with a comment (manager)",
        request=RequestChangesSerializer,
        responses={200: ReportSerializer, 409: REPORT_CONFLICT},
        tags=["reports"],
    )
    def post(self, request, pk):
        return super().post(request, pk)


class ReportMarkdownView(APIView):
    required_roles = {"GET": roles.VIEWER}

    @extend_schema(
        summary="The report as Markdown, in the incident report template's layout",
        responses={(200, "text/markdown"): OpenApiTypes.STR},
        tags=["reports"],
    )
    def get(self, request, pk):
        report = get_object_or_404(Report.objects.select_related("incident"), incident_id=pk)
        response = HttpResponse(reports.report_markdown(report), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{report.incident.reference}-report.md"'
        return response


class ActionItemFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ActionItemStatus.choices)
    type = django_filters.MultipleChoiceFilter(choices=ActionItemType.choices)
    priority = django_filters.MultipleChoiceFilter(choices=ActionItemPriority.choices)
    owner = django_filters.CharFilter(field_name="owner__username")
    incident = django_filters.NumberFilter(field_name="incident_id")
    service = django_filters.ModelChoiceFilter(
        field_name="incident__services", to_field_name="slug", queryset=Service.objects.all()
    )
    mine = django_filters.BooleanFilter(method="filter_mine")
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = ActionItem
        fields = ["status", "type", "priority", "owner", "incident", "service"]

    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value else queryset.exclude(owner=self.request.user)

    def filter_overdue(self, queryset, name, value):
        overdue = {"status": ActionItemStatus.OPEN, "due_date__lt": timezone.localdate()}
        return queryset.filter(**overdue) if value else queryset.exclude(**overdue)


class ActionItemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Follow-ups of incidents. Closed with status done or wont_do; never deleted."""

    serializer_class = ActionItemSerializer
    lookup_value_converter = "int"
    filterset_class = ActionItemFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return ActionItem.objects.select_related("owner", "created_by", "incident").order_by("status", "due_date", "id")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        incident = data.pop("incident")
        serializer.instance = action_items.action_item_create(
            incident=incident, actor=Actor.for_request(self.request), **data
        )

    def perform_update(self, serializer):
        serializer.instance = action_items.action_item_update(
            item=serializer.instance, actor=Actor.for_request(self.request), **serializer.validated_data
        )


class InsightsQuery(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), required=False)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": ["end must be after start."]})
        try:
            attrs["period"] = period_from(attrs)
        except OverflowError:
            raise serializers.ValidationError(
                {"end": ["The period would begin before the year 1: give a later end, or a start."]}
            )
        return attrs


def period_from(query: dict) -> insights.Period:
    now = timezone.now()
    if query.get("start") or query.get("end"):
        end = query.get("end")
        end_at = datetime.combine(end, time.min, tzinfo=UTC) if end else now
        start = query.get("start")
        start_at = datetime.combine(start, time.min, tzinfo=UTC) if start else end_at - timedelta(days=30)
        return insights.Period(start=start_at, end=end_at)
    return insights.Period.last_days(query.get("days", 30), now=now)


class InsightsView(APIView):
    required_roles = {"GET": roles.VIEWER}

    @extend_schema(
        summary="MTTA, MTTR, SLA compliance and trends for a period and service",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="Period start (UTC date, inclusive)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Period end (UTC date, exclusive); default now"),
            OpenApiParameter(
                "days", OpenApiTypes.INT, description="Instead of start/end: the last N days (default 30)"
            ),
            OpenApiParameter("service", OpenApiTypes.STR, description="A service slug"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        tags=["insights"],
    )
    def get(self, request):
        query = InsightsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = insights.insights(period=query.validated_data["period"], service=query.validated_data.get("service"))
        return Response(data)
