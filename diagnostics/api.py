"""REST: GET|POST /api/v1/incidents/{id}/diagnostics/ and /api/v1/incidents/{id}/mitigations/."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from diagnostics import mitigations, selectors, services
from diagnostics.collectors import COLLECTORS
from diagnostics.collectors.base import FindingStatus
from diagnostics.models import DiagnosticRun, Mitigation, MitigationAction, RunTrigger
from incidents.actors import Actor
from incidents.api.schema import VALIDATION_ERROR, error_ref
from incidents.models import Incident
from incidents.services import incident_guard_frozen


class FindingSerializer(serializers.Serializer):
    check = serializers.CharField(help_text='Dotted check id, e.g. "postgres.connection_saturation".')
    status = serializers.ChoiceField(choices=[status.value for status in FindingStatus])
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
        incident_guard_frozen(incident)
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


# -- mitigations -----------------------------------------------------------------------


class MitigationSerializer(serializers.ModelSerializer):
    # A plain string here: the request documents the choices (one enum component, no naming collision).
    action = serializers.CharField(read_only=True, help_text='"scale" or "restart".')
    service = serializers.CharField(source="service_slug", read_only=True)
    target = serializers.SerializerMethodField()
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = Mitigation
        fields = [
            "id",
            "incident",
            "action",
            "service",
            "target",
            "deployment",
            "namespace",
            "replicas",
            "command",
            "warnings",
            "status",
            "actor",
            "created_at",
            "started_at",
            "finished_at",
            "replicas_before",
            "replicas_after",
            "detail",
            "error",
            "timeline_entry",
        ]
        read_only_fields = fields

    @extend_schema_field(TargetRefSerializer)
    def get_target(self, mitigation: Mitigation) -> dict:
        return {"kind": "kubernetes", "name": mitigation.target_name}


class MitigationRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=MitigationAction.choices)
    service = serializers.SlugField(help_text="The slug of an affected service with a kubernetes target.")
    replicas = serializers.IntegerField(
        required=False, allow_null=True, help_text="For scale: 1 to DIAGNOSTICS_MITIGATION_MAX_REPLICAS (50)."
    )
    confirm = serializers.BooleanField(
        default=False, help_text="Without true, nothing runs: the answer is a 400 saying what would run."
    )


# Either shape is a 400: the answer to an unconfirmed request, or field errors.
MITIGATION_REFUSED = {
    "anyOf": [
        {
            "type": "object",
            "title": "MitigationUnconfirmed",
            "properties": {
                "detail": {"type": "string"},
                "would_run": {"type": "string", "description": "The command that would run."},
                "warnings": {"type": "array", "items": {"type": "string"}},
                "current_replicas": {"type": "integer", "nullable": True},
            },
            "required": ["detail", "would_run", "warnings"],
        },
        error_ref(VALIDATION_ERROR),
    ]
}


class IncidentMitigationsView(generics.GenericAPIView):
    """Scale or restart a service's deployment for an incident. Reading needs viewer, acting engineer."""

    serializer_class = MitigationSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(
        summary="An incident's mitigations, newest first",
        responses=inline_serializer("Mitigations", {"mitigations": MitigationSerializer(many=True)}),
    )
    def get(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        items = mitigations.mitigations_for_incident(incident=incident)
        return Response({"mitigations": MitigationSerializer(items, many=True).data})

    @extend_schema(
        summary="Scale or rollout-restart a service's deployment (after confirmation)",
        request=MitigationRequestSerializer,
        responses={
            202: MitigationSerializer,
            400: OpenApiResponse(
                MITIGATION_REFUSED,
                description="Not confirmed: `{detail, would_run, warnings[], current_replicas}`, nothing ran; "
                "or field errors",
            ),
            403: OpenApiResponse(description="Actions are disabled for the target, or the role is not engineer"),
            409: OpenApiResponse(
                description="The incident is reviewed, or a mitigation of the deployment is under way"
            ),
        },
    )
    def post(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        form = MitigationRequestSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        incident_guard_frozen(incident)
        data = form.validated_data
        try:
            plan = mitigations.mitigation_plan(
                incident=incident, action=data["action"], service_slug=data["service"], replicas=data.get("replicas")
            )
        except mitigations.MitigationInputError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        except mitigations.ActionsDisabledError as exc:
            return Response({"detail": exc.detail}, status=status.HTTP_403_FORBIDDEN)
        if not data["confirm"]:
            detail = f"{plan.summary}? Nothing ran: send the same request with confirm: true to run it."
            return Response(
                {
                    "detail": detail,
                    "would_run": plan.command,
                    "warnings": plan.warnings,
                    "current_replicas": plan.current_replicas,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            mitigation = mitigations.mitigation_request(plan=plan, actor=Actor.for_request(request))
        except mitigations.MitigationBusyError as exc:
            return Response({"detail": exc.detail, "mitigation": exc.mitigation_id}, status=status.HTTP_409_CONFLICT)
        return Response(MitigationSerializer(mitigation).data, status=status.HTTP_202_ACCEPTED)
