from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.models import Incident, Service, TimelineEntry
from incidents.scoping import ScopedByIncidentManager


class TargetKind(models.TextChoices):
    KUBERNETES = "kubernetes", "Kubernetes workload"
    POSTGRES = "postgres", "PostgreSQL database"
    PROMETHEUS = "prometheus", "Prometheus job"
    TRACING = "tracing", "Traces (Jaeger)"
    HTTP = "http", "HTTP probe"


class Target(models.Model):
    """Something diagnostics can inspect for a service: one per kind per service.

    ``config`` holds the keys of the targets file (validated by
    ``diagnostics.targets``). Secrets are never stored: only the names of the
    environment variables that hold them (``dsn_env``, ``auth_header_env``).
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="diagnostic_targets")
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    name = models.CharField(max_length=200, help_text="Shown in runs and on the timeline.")
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service__slug", "kind"]
        constraints = [models.UniqueConstraint(fields=["service", "kind"], name="one_target_per_kind_per_service")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT)


class RunTrigger(models.TextChoices):
    INCIDENT_CREATED = "incident_created", "Incident filed"
    SERVICES_ADDED = "services_added", "Service added to the incident"
    ON_DEMAND = "on_demand", "Requested"
    RECORDED_DEMO = "recorded_demo", "Recorded demo data"


class DiagnosticRun(models.Model):
    """One collector against one target for one incident.

    A run is claimed by a conditional update (queued/running → running), so a
    task redelivered after its worker died can finish a run left running.
    ``attached_at`` is set by a conditional update in the same transaction as
    the run's timeline entry: each run reaches the timeline exactly once.
    During an alert storm an automatic run may follow a recent ``leader`` run
    of the same target instead of inspecting it again; it gets the leader's
    results when the leader finishes.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="diagnostic_runs")
    target = models.ForeignKey(Target, null=True, on_delete=models.SET_NULL, related_name="runs")
    collector = models.CharField(max_length=16, choices=TargetKind.choices)
    target_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=24, choices=RunTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    leader = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followers",
        help_text="The run whose results this one shares (debounced during an alert storm).",
    )  # fmt: skip

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="Latest claim by a task delivery.")
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    checks_total = models.PositiveSmallIntegerField(default=0)
    checks_done = models.PositiveSmallIntegerField(default=0)
    findings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    attached_at = models.DateTimeField(null=True, blank=True)
    timeline_entry = models.ForeignKey(
        TimelineEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["incident", "-created_at"], name="diagrun_by_incident"),
            models.Index(fields=["target", "-created_at"], name="diagrun_by_target"),
            models.Index(
                fields=["status", "claimed_at"], name="diagrun_active", condition=Q(status__in=ACTIVE_RUN_STATUSES)
            ),
        ]
        constraints = [
            # Requests for the same incident and target reuse the active run, even when racing.
            models.UniqueConstraint(
                fields=["incident", "target"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="one_active_run_per_incident_target",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.collector}:{self.target_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class MitigationAction(models.TextChoices):
    SCALE = "scale", "Scale deployment"
    RESTART = "restart", "Rollout restart"


class MitigationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_MITIGATION_STATUSES = (MitigationStatus.QUEUED, MitigationStatus.RUNNING)


class Mitigation(models.Model):
    """A confirmed action on a service's Kubernetes deployment (scale or rollout restart) for an incident.

    Created by the API after the person confirmed the exact command; executed
    by a task that claims it with a conditional update (queued → running), so a
    redelivered task never acts twice. Its outcome and its timeline entry are
    written in one transaction by a conditional update (running → finished):
    one entry per mitigation. Who asked is kept for the audit trail.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="mitigations")
    service = models.ForeignKey(Service, null=True, on_delete=models.SET_NULL, related_name="+")
    target = models.ForeignKey(Target, null=True, on_delete=models.SET_NULL, related_name="mitigations")
    service_slug = models.CharField(max_length=100)
    target_name = models.CharField(max_length=200)
    deployment = models.CharField(max_length=253)
    namespace = models.CharField(max_length=63)
    action = models.CharField(max_length=16, choices=MitigationAction.choices)
    replicas = models.PositiveIntegerField(null=True, blank=True, help_text="The replica count asked for (scale).")
    command = models.TextField(help_text="What was confirmed, as the equivalent kubectl command.")
    warnings = models.JSONField(default=list, blank=True, help_text="What the person was warned of before confirming.")
    safety = models.JSONField(default=dict, blank=True, help_text="The numbers behind the warnings.")
    status = models.CharField(max_length=16, choices=MitigationStatus.choices, default=MitigationStatus.QUEUED)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=16)
    actor_name = models.CharField(max_length=200)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    replicas_before = models.IntegerField(null=True, blank=True)
    replicas_after = models.IntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    timeline_entry = models.ForeignKey(
        TimelineEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["incident", "-created_at"], name="mitigation_by_incident"),
            models.Index(
                fields=["status", "created_at"],
                name="mitigation_active",
                condition=Q(status__in=ACTIVE_MITIGATION_STATUSES),
            ),
        ]
        constraints = [
            # One action at a time on a deployment, whichever incident asks: no double restart on a double click.
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(status__in=ACTIVE_MITIGATION_STATUSES),
                name="one_active_mitigation_per_target",
            ),
            models.CheckConstraint(
                condition=~Q(action="scale") | Q(replicas__isnull=False, replicas__gte=1),
                name="mitigation_scale_has_replicas",
            ),
        ]

    def __str__(self) -> str:
        return f"mitigation {self.pk} {self.action} {self.target_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_MITIGATION_STATUSES


class IncidentHypotheses(models.Model):
    """The latest likely causes of an incident, recomputed from its findings whenever a run finishes.

    Never truth, only the latest list (``diagnostics.analysis``): one row per incident, rewritten by
    ``diagnostics.hypotheses.hypotheses_recompute`` under a row lock. ``top_key`` is the hypothesis
    announced on the timeline last, so a recompute that keeps the same top writes no entry.
    """

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, primary_key=True, related_name="hypotheses")
    computed_at = models.DateTimeField(null=True, blank=True)
    hypotheses = models.JSONField(default=list, blank=True)
    top_key = models.CharField(max_length=64, blank=True)

    objects = ScopedByIncidentManager()

    class Meta:
        verbose_name_plural = "incident hypotheses"

    def __str__(self) -> str:
        return f"hypotheses of incident {self.incident_id}"


class RunbookChecklist(models.Model):
    """A runbook attached to an incident: its steps become a checklist (one ``ChecklistStep`` row each).

    The runbook's version at attachment is kept; the steps are copied (number and title) so a later edit
    of the runbook file does not change what was ticked.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="runbook_checklists")
    slug = models.SlugField(max_length=100)
    title = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    suggested_by = models.CharField(max_length=64, blank=True, help_text="The hypothesis that suggested it, if any.")
    attached_at = models.DateTimeField(auto_now_add=True)
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["attached_at", "id"]
        constraints = [models.UniqueConstraint(fields=["incident", "slug"], name="one_checklist_per_runbook")]

    def __str__(self) -> str:
        return f"{self.slug} on incident {self.incident_id}"


class ChecklistStep(models.Model):
    checklist = models.ForeignKey(RunbookChecklist, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by_name = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["checklist", "number"], name="one_row_per_checklist_step")]

    def __str__(self) -> str:
        return f"step {self.number} of {self.checklist_id}"
