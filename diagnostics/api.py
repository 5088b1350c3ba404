"""REST: GET|POST /api/v1/incidents/{id}/diagnostics/."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from diagnostics import selectors, services
from diagnostics.collectors import COLLECTORS
from diagnostics.models import DiagnosticRun, RunTrigger
from incidents.models import Incident, Status
from incidents.services import IncidentLockedError


class FindingSerializer(serializers.Serializer):
    check = serializers.CharField(help_text='Dotted check id, e.g. "postgres.connection_saturation".')
    status = serializers.ChoiceField(choices=["ok", "warn", "crit", "no_data", "error"])
    summary = serializers.CharField()
    subject = serializers.CharField(allow_blank=True)
    evidence = serializers.DictField(help_text="query, observed, threshold, unit and optionally table, series, range.")
    remediation = serializers.CharField(allow_blank=True)
    runbook = serializers.CharField(allow_null=True, help_text="A runbook slug, or null.")


class TargetRefSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()


class DiagnosticRunSerializer(serializers.ModelSerializer):
    target = serializers.SerializerMethodField()
    findings = FindingSerializer(many=True, read_only=True)
    shared_from = serializers.IntegerField(source="leader_id", read_only=True, allow_null=True)

    class Meta:
        model = DiagnosticRun
        fields = [
            "id",
            "incident",
            "collector",
            "target",
            "status",
            "trigger",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "checks_total",
            "checks_done",
            "attempts",
            "attached_at",
            "shared_from",
            "findings",
        ]
        read_only_fields = fields

    @extend_schema_field(TargetRefSerializer)
    def get_target(self, run: DiagnosticRun) -> dict:
        return {"kind": run.collector, "name": run.target_name}


class DiagnosticsRequestSerializer(serializers.Serializer):
    collectors = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(COLLECTORS)),
        required=False,
        allow_empty=False,
        help_text="Which collectors to run; all that the incident's targets have by default.",
    )


RUNS_RESPONSE = inline_serializer("DiagnosticRuns", {"runs": DiagnosticRunSerializer(many=True)})


class IncidentDiagnosticsView(generics.GenericAPIView):
    """Diagnostic runs of an incident. Reading needs the viewer role, starting runs the engineer role."""

    serializer_class = DiagnosticRunSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(summary="An incident's diagnostic runs, newest first", responses=RUNS_RESPONSE)
    def get(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        runs = selectors.runs_for_incident(incident=incident)
        return Response({"runs": DiagnosticRunSerializer(runs, many=True).data})

    @extend_schema(
        summary="Run diagnostics now",
        request=DiagnosticsRequestSerializer,
        responses={
            202: RUNS_RESPONSE,
            400: OpenApiResponse(description="No diagnostic target for the incident's services"),
            409: OpenApiResponse(description="The incident is reviewed"),
        },
    )
    def post(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        form = DiagnosticsRequestSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        if incident.status == Status.REVIEWED:
            raise IncidentLockedError(
                f"{incident.reference} is reviewed; its record is closed.", status=incident.status
            )
        collectors = form.validated_data.get("collectors")
        runs = services.runs_request(
            incident_id=incident.pk, collectors=collectors, trigger=RunTrigger.ON_DEMAND, requested_by=request.user
        )
        if not runs:
            wanted = " or ".join(collectors or sorted(COLLECTORS))
            detail = f"The services of {incident.reference} have no {wanted} target; add one with sync_services."
            return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        fresh = selectors.runs_for_incident(incident=incident).filter(pk__in=[r.pk for r in runs])
        return Response({"runs": DiagnosticRunSerializer(fresh, many=True).data}, status=status.HTTP_202_ACCEPTED)
