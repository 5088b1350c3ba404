"""REST: GET|POST /api/v1/incidents/{id}/diagnostics/ and /api/v1/incidents/{id}/mitigations/."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from diagnostics import checklists, hypotheses, mitigations, selectors, services, severity
from diagnostics.collectors import COLLECTORS
from diagnostics.collectors.base import FindingStatus
from diagnostics.models import (
    ChecklistStep,
    DiagnosticRun,
    Mitigation,
    MitigationAction,
    RunbookChecklist,
    RunTrigger,
)
from incidents.actors import Actor
from incidents.api.schema import VALIDATION_ERROR, error_ref
from incidents.models import Incident
from incidents.services import incident_guard_frozen


class FindingSerializer(serializers.Serializer):
    check = serializers.CharField(help_text='Dotted check id, e.g. "postgres.connection_saturation".')
    status = serializers.ChoiceField(choices=[status.value for status in FindingStatus])
    summary = serializers.CharField()
    subject = serializers.CharField(allow_blank=True)
    evidence = serializers.DictField(
        help_text="query, observed, threshold, unit and optionally table, series, range, data (named facts)."
    )
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


# -- likely causes ---------------------------------------------------------------------


class EvidenceLinkSerializer(serializers.Serializer):
    run = serializers.IntegerField(help_text="The diagnostic run holding the finding.")
    check = serializers.CharField(help_text="The finding's check id.")
    subject = serializers.CharField(allow_blank=True)


class HypothesisSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 is the likeliest.")
    key = serializers.CharField(help_text='The rule that found it, e.g. "pool_exhausted".')
    title = serializers.CharField(help_text="One line with the decisive fact (the pod, the host, the number).")
    confidence = serializers.FloatField(min_value=0, max_value=1)
    summary = serializers.CharField()
    evidence = EvidenceLinkSerializer(many=True)
    confirm = serializers.CharField(help_text="What would prove it.")
    refute = serializers.CharField(help_text="What would rule it out.")
    runbook = serializers.CharField(allow_null=True, help_text="A runbook slug, or null.")


class HypothesesSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True, help_text="Null until a diagnostic run has finished.")
    hypotheses = HypothesisSerializer(many=True)


class IncidentHypothesesView(generics.GenericAPIView):
    """The incident's likely causes, ranked: recomputed by the worker whenever a diagnostic run finishes."""

    serializer_class = HypothesesSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(summary="An incident's likely causes, likeliest first", responses=HypothesesSerializer)
    def get(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        return Response(HypothesesSerializer(hypotheses.hypotheses_get(incident)).data)


# -- runbook checklists ------------------------------------------------------------------


class ChecklistStepSerializer(serializers.ModelSerializer):
    done_by = serializers.CharField(source="done_by_name", read_only=True)

    class Meta:
        model = ChecklistStep
        fields = ["number", "title", "done", "done_at", "done_by"]
        read_only_fields = fields


class ChecklistSerializer(serializers.ModelSerializer):
    runbook = serializers.CharField(source="slug", read_only=True)
    steps = ChecklistStepSerializer(many=True, read_only=True)

    class Meta:
        model = RunbookChecklist
        fields = ["runbook", "title", "version", "suggested_by", "attached_at", "steps"]
        read_only_fields = fields


class SuggestedRunbookSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    hypothesis = serializers.CharField(help_text="The key of the likely cause that suggests it.")
    because = serializers.CharField(help_text="That likely cause's title.")


class ChecklistsSerializer(serializers.Serializer):
    suggested = SuggestedRunbookSerializer(
        allow_null=True, help_text="The top likely cause's runbook, if not attached."
    )
    checklists = ChecklistSerializer(many=True)


class AttachRunbookSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=100, help_text="The runbook to attach, e.g. db-connection-pool-exhausted.")


class StepDoneSerializer(serializers.Serializer):
    done = serializers.BooleanField(help_text="true ticks the step, false unticks it.")


def _checklists_body(incident: Incident) -> dict:
    return {"suggested": checklists.suggested_runbook(incident), "checklists": checklists.checklists_for(incident)}


class IncidentRunbooksView(generics.GenericAPIView):
    """Runbooks attached to an incident as checklists. Reading needs the viewer role, attaching the engineer role."""

    serializer_class = ChecklistsSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(summary="An incident's runbook checklists and the suggested runbook", responses=ChecklistsSerializer)
    def get(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        return Response(ChecklistsSerializer(_checklists_body(incident)).data)

    @extend_schema(
        summary="Attach a runbook as a checklist",
        request=AttachRunbookSerializer,
        responses={
            201: ChecklistSerializer,
            200: ChecklistSerializer,
            409: OpenApiResponse(description="The incident is reviewed"),
        },
    )
    def post(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        form = AttachRunbookSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        suggested = checklists.suggested_runbook(incident)
        slug = form.validated_data["slug"]
        checklist, created = checklists.checklist_attach(
            incident=incident, slug=slug, actor=Actor.for_user(request.user),
            suggested_by=suggested["hypothesis"] if suggested and suggested["slug"] == slug else "",
        )  # fmt: skip
        checklist = RunbookChecklist.objects.prefetch_related("steps").get(pk=checklist.pk)
        return Response(ChecklistSerializer(checklist).data, status=201 if created else 200)


class ChecklistStepView(generics.GenericAPIView):
    """Tick or untick one step of an incident's runbook checklist (engineer and up)."""

    serializer_class = StepDoneSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(
        summary="Tick or untick a checklist step",
        request=StepDoneSerializer,
        responses={
            200: ChecklistStepSerializer,
            404: OpenApiResponse(description="No such incident, checklist or step"),
            409: OpenApiResponse(description="The incident is reviewed"),
        },
    )
    def post(self, request, incident_id: int, slug: str, number: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        form = StepDoneSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        try:
            step, _changed = checklists.checklist_step_set(
                incident=incident, slug=slug, number=number, done=form.validated_data["done"],
                actor=Actor.for_user(request.user),
            )  # fmt: skip
        except checklists.ChecklistNotFound as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        return Response(ChecklistStepSerializer(step).data)


# -- severity suggestion ----------------------------------------------------------------------


class SeveritySuggestionSerializer(serializers.Serializer):
    current = serializers.CharField(help_text="The incident's severity now.")
    suggested = serializers.CharField(allow_null=True, help_text="A higher severity the evidence meets, or null.")
    text = serializers.CharField(allow_blank=True, help_text='e.g. "Evidence suggests P1: error ratio 8.3 % (> 5 %)".')
    reasons = serializers.ListField(child=serializers.CharField())
    evidence = EvidenceLinkSerializer(many=True)


class SeverityRaiseSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["P0", "P1"], help_text="The suggested severity to raise to.")


def _suggestion_body(incident: Incident) -> dict:
    suggestion = severity.severity_suggestion_for(incident)
    if suggestion is None:
        return {"current": incident.severity, "suggested": None, "text": "", "reasons": [], "evidence": []}
    data = suggestion.to_dict()
    return {"current": incident.severity, "suggested": data["severity"], "text": data["text"],
            "reasons": data["reasons"], "evidence": data["evidence"]}  # fmt: skip


class IncidentSeveritySuggestionView(generics.GenericAPIView):
    """The severity the diagnostic evidence supports, when higher than the incident's; raised only by a person."""

    serializer_class = SeveritySuggestionSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return Incident.objects.all()

    @extend_schema(summary="The severity the evidence suggests (never lower)", responses=SeveritySuggestionSerializer)
    def get(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        return Response(SeveritySuggestionSerializer(_suggestion_body(incident)).data)

    @extend_schema(
        summary="Raise the severity to the suggested one",
        request=SeverityRaiseSerializer,
        responses={
            200: SeveritySuggestionSerializer,
            409: OpenApiResponse(description="The evidence no longer suggests it, or the incident is reviewed"),
        },
    )
    def post(self, request, incident_id: int):
        incident = get_object_or_404(Incident, pk=incident_id)
        form = SeverityRaiseSerializer(data=request.data or {})
        form.is_valid(raise_exception=True)
        incident = severity.severity_raise(
            incident=incident, severity=form.validated_data["severity"], actor=Actor.for_user(request.user)
        )
        return Response(SeveritySuggestionSerializer(_suggestion_body(incident)).data)
