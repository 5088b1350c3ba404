"""Mitigations: scale or rollout-restart a service's Kubernetes deployment from an incident.

``mitigation_plan`` validates a request and says exactly what would run, with
safety warnings (an autoscaler that will undo a manual scale; scaling out
past the free connections of the service's PostgreSQL database, the seed's
incident). The API answers the plan as a 400 until the person confirms;
``mitigation_request`` then records a ``Mitigation`` and enqueues it after
commit. The task calls ``mitigation_execute``: it claims the row with a
conditional update (queued → running), so a redelivered task never acts
twice, calls the Kubernetes API, and ``mitigation_finish`` writes the outcome
and its one ``mitigation`` timeline entry in the same transaction.
"""

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import urllib3
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from diagnostics import conf
from diagnostics.collectors import kubernetes
from diagnostics.collectors.base import CollectorError, ConfigurationError, TargetSpec, Window
from diagnostics.collectors.postgres import PostgresCollector, TooManyConnections
from diagnostics.models import (
    ACTIVE_MITIGATION_STATUSES,
    Mitigation,
    MitigationAction,
    MitigationStatus,
    Target,
    TargetKind,
)
from diagnostics.runbooks import runbook_url
from incidents.actors import Actor
from incidents.models import Incident, Service, TimelineKind
from incidents.timeline import timeline_entry_add
from orion_ops.secret_env import secret_env_refusal

logger = logging.getLogger(__name__)

# Settings, each overridable as DIAGNOSTICS_<NAME> (see diagnostics/conf.py).
MAX_REPLICAS = ("MITIGATION_MAX_REPLICAS", 50)
SOFT_TIME_LIMIT = ("MITIGATION_SOFT_TIME_LIMIT", 45)
TIME_LIMIT = ("MITIGATION_TIME_LIMIT", 60)
# A confirmed action not started within this long is not run: the situation it was meant for may be over.
EXPIRES_SECONDS = ("MITIGATION_EXPIRES_SECONDS", 300)
STALE_GRACE_SECONDS = ("MITIGATION_STALE_GRACE_SECONDS", 60)
# The safety check reads the database from the web request: it must answer fast or be skipped.
POSTGRES_CONNECT_TIMEOUT = ("MITIGATION_POSTGRES_CONNECT_TIMEOUT", 3)
POSTGRES_STATEMENT_TIMEOUT_MS = ("MITIGATION_POSTGRES_STATEMENT_TIMEOUT_MS", 2000)

RBAC_ACTIONS = "deploy/kubernetes/rbac-actions.yaml"
POOL_RUNBOOK = "db-connection-pool-exhausted"


def setting(pair: tuple[str, int]) -> int:
    name, default = pair
    return conf.get(name, default)


class MitigationInputError(Exception):
    """A request that cannot be planned: field errors, answered as a 400."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class ActionsDisabledError(Exception):
    """The target does not allow actions (``actions: false``), answered as a 403."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class MitigationBusyError(Exception):
    """Another mitigation of the same deployment is queued or running, answered as a 409."""

    def __init__(self, detail: str, mitigation_id: int | None):
        super().__init__(detail)
        self.detail = detail
        self.mitigation_id = mitigation_id


@dataclass
class Plan:
    incident: Incident
    service: Service
    target: Target
    action: str
    replicas: int | None
    command: str
    current_replicas: int | None = None
    warnings: list[str] = field(default_factory=list)
    safety: dict = field(default_factory=dict)

    @property
    def summary(self) -> str:
        deployment = self.target.config.get("deployment")
        if self.action == MitigationAction.SCALE:
            now = f" from {self.current_replicas}" if self.current_replicas is not None else ""
            return f"Scale deployment {deployment}{now} to {self.replicas} replicas"
        return f"Rollout restart of deployment {deployment}"


# -- what would run ----------------------------------------------------------------


def would_run(config: dict, *, action: str, replicas: int | None = None) -> str:
    """The kubectl command equivalent to the API calls the task makes."""
    deployment, namespace = config.get("deployment"), config.get("namespace")
    if action == MitigationAction.SCALE:
        command = f"kubectl scale deployment {deployment} --replicas={replicas} -n {namespace}"
    else:
        command = f"kubectl rollout restart deployment {deployment} -n {namespace}"
    if config.get("context"):
        command += f" --context {config['context']}"
    return command


def mitigation_plan(*, incident: Incident, action: str, service_slug: str, replicas: int | None) -> Plan:
    """Validate a request and describe it: the command, the replicas now, and the warnings.

    Raises ``MitigationInputError`` (400) or ``ActionsDisabledError`` (403).
    Reads the cluster and the service's database, with short timeouts; what
    cannot be read becomes a warning, never an error.
    """
    errors: dict[str, list[str]] = {}
    max_replicas = setting(MAX_REPLICAS)
    if action == MitigationAction.SCALE:
        if replicas is None:
            errors["replicas"] = ["Required to scale: the number of replicas wanted."]
        elif not 1 <= replicas <= max_replicas:
            errors["replicas"] = [
                f"Must be between 1 and {max_replicas} (DIAGNOSTICS_MITIGATION_MAX_REPLICAS); "
                "scaling to zero is an outage, not a mitigation."
            ]
    elif replicas is not None:
        errors["replicas"] = ["Only for scale: a rollout restart keeps the replica count."]

    service = Service.objects.filter(slug=service_slug).first()
    target = None
    if service is None:
        errors["service"] = [f"No service {service_slug!r}."]
    elif not incident.services.filter(pk=service.pk).exists():
        errors["service"] = [f"{service_slug} is not affected by {incident.reference}; add it to the incident first."]
    else:
        target = Target.objects.filter(service=service, kind=TargetKind.KUBERNETES).first()
        if target is None:
            errors["service"] = [f"{service_slug} has no kubernetes target; add one with sync_services."]
        elif not target.config.get("deployment"):
            errors["service"] = [
                f"The kubernetes target of {service_slug} names no deployment; set kubernetes.deployment "
                "in the targets file."
            ]
    if errors:
        raise MitigationInputError(errors)

    if not target.config.get("actions"):
        raise ActionsDisabledError(
            f"Actions are disabled for the kubernetes target of {service_slug} ({target.name}): Orion Ops only "
            f"reads this deployment. To allow scale and restart, set actions: true for it in the targets file "
            f"(sync_services) and apply {RBAC_ACTIONS} in namespace {target.config.get('namespace')}."
        )

    plan = Plan(
        incident=incident,
        service=service,
        target=target,
        action=action,
        replicas=replicas,
        command=would_run(target.config, action=action, replicas=replicas),
    )
    _current_replicas(plan)
    if action == MitigationAction.SCALE:
        _autoscaler_warnings(plan)
        _pool_warnings(plan)
    _busy_warning(plan)
    return plan


def _current_replicas(plan: Plan) -> None:
    try:
        plan.current_replicas = kubernetes.deployment_replicas(plan.target.config)
    except Exception as exc:  # the answer still says what would run; the person decides
        if not isinstance(exc, ApiException | CollectorError | urllib3.exceptions.HTTPError | OSError):
            logger.exception("mitigation plan: could not read the replicas of %s", plan.target)
        plan.warnings.append(
            f"Could not read the current replica count of deployment {plan.target.config.get('deployment')}: "
            f"{describe_error(exc, plan.target.config)}"
        )
        return
    plan.safety["current_replicas"] = plan.current_replicas
    if plan.action == MitigationAction.SCALE and plan.current_replicas == plan.replicas:
        plan.warnings.append(
            f"Deployment {plan.target.config.get('deployment')} already has {plan.replicas} replicas: nothing would "
            "change."
        )


def _autoscaler_warnings(plan: Plan) -> None:
    """A HorizontalPodAutoscaler on the deployment undoes a manual scale outside its range, or at its next sync."""
    config = plan.target.config
    try:
        api = kubernetes.api_client(config)
        try:
            hpas = (
                k8s.AutoscalingV2Api(api)
                .list_namespaced_horizontal_pod_autoscaler(config["namespace"], _request_timeout=kubernetes.TIMEOUT)
                .items
            )
        finally:
            api.close()
    except Exception:  # the autoscaler check is advice; the scale itself does not depend on it
        logger.info("mitigation plan: could not list HPAs of %s", plan.target, exc_info=True)
        return
    for hpa in hpas:
        ref = hpa.spec.scale_target_ref
        if not ref or ref.kind != "Deployment" or ref.name != config["deployment"]:
            continue
        low, high = hpa.spec.min_replicas or 1, hpa.spec.max_replicas
        plan.safety["autoscaler"] = {"name": hpa.metadata.name, "min": low, "max": high}
        if plan.replicas > high:
            undo = f"it will scale back down to its maximum of {high}; raise maxReplicas instead"
        elif plan.replicas < low:
            undo = f"it will scale back up to its minimum of {low}; lower minReplicas instead"
        else:
            undo = "it may change the count again at its next evaluation"
        plan.warnings.append(
            f"HorizontalPodAutoscaler {hpa.metadata.name} manages {config['deployment']} "
            f"(min {low}, max {high}): {undo}."
        )


@dataclass(frozen=True)
class Connections:
    usable: int  # max_connections minus the reserved slots
    in_use: int  # client connections, not counting the check's own

    @property
    def free(self) -> int:
        return max(self.usable - self.in_use, 0)


def database_connections(target: Target) -> Connections:
    """Usable and used connections of a PostgreSQL target, read with the collector's own check."""
    collector = PostgresCollector(
        connect_timeout=setting(POSTGRES_CONNECT_TIMEOUT),
        statement_timeout_ms=setting(POSTGRES_STATEMENT_TIMEOUT_MS),
    )
    spec = TargetSpec(kind=target.kind, name=target.name, config=dict(target.config))
    now = timezone.now()
    window = Window(start=now, now=now)
    with collector.open(spec, window) as session:
        finding = collector.connection_saturation(session, window)
    numbers = finding.evidence.range
    return Connections(usable=numbers["usable"], in_use=max(numbers["in_use"] - 1, 0))


def _pool_warnings(plan: Plan) -> None:
    """Before scaling up: do N pods' connection pools fit in the database's free connections?"""
    if plan.current_replicas is not None and plan.replicas <= plan.current_replicas:
        return  # scaling in frees connections
    database = Target.objects.filter(service=plan.service, kind=TargetKind.POSTGRES).first()
    if database is None:
        return
    slug, pods = plan.service.slug, plan.replicas
    pool = database.config.get("pool_size_per_pod")
    if not pool:
        plan.warnings.append(
            f"Cannot check that {pods} pods fit in {database.name}'s connections: its PostgreSQL target sets no "
            f"pool_size_per_pod. Set postgres.pool_size_per_pod for {slug} in the targets file."
        )
        return
    needed = pods * int(pool)
    check = {"database": database.name, "pool_size_per_pod": int(pool), "replicas": pods, "needed": needed}
    plan.safety["database"] = check
    added = ""
    if plan.current_replicas is not None:
        more = pods - plan.current_replicas
        added = f"; the {more} added pod{'s' if more != 1 else ''} alone need{'s' if more == 1 else ''} {more * pool}"
    env_name = database.config.get("dsn_env", "")
    refusal = secret_env_refusal(env_name) if env_name else None
    if refusal:
        check["error"] = refusal
        plan.warnings.append(
            f"Could not check {database.name}'s free connections: dsn_env: {refusal}. "
            f"{pods} pods × {pool} connections (pool_size_per_pod) = {needed}{added}."
        )
        return
    if not os.environ.get(env_name):
        check["error"] = f"{env_name} not set"
        plan.warnings.append(
            f"Could not check {database.name}'s free connections: {env_name} is not set in the web process. "
            f"{pods} pods × {pool} connections (pool_size_per_pod) = {needed}{added}."
        )
        return
    try:
        connections = database_connections(database)
    except TooManyConnections:
        check.update(free=0, refused=True)
        plan.warnings.append(
            f"{database.name} refused a new connection: it has no free connection slot now. Scaling {slug} to "
            f"{pods} pods ({pool} connections each, up to {needed}) makes pool exhaustion worse; see "
            f"{runbook_url(POOL_RUNBOOK)}."
        )
        return
    except CollectorError as exc:
        check["error"] = exc.message
        plan.warnings.append(
            f"Could not check {database.name}'s free connections ({exc.message}). "
            f"{pods} pods × {pool} connections (pool_size_per_pod) = {needed}{added}."
        )
        return
    check.update(free=connections.free, usable=connections.usable, in_use=connections.in_use)
    if needed > connections.free:
        plan.warnings.append(
            f"Scaling {slug} to {pods} pods can exhaust {database.name}'s connections: {pods} pods × {pool} "
            f"(pool_size_per_pod) = {needed} connections at full pools{added}, but only {connections.free} of "
            f"{connections.usable} usable connections are free ({connections.in_use} in use). Scaling out makes "
            f"pool exhaustion worse; see {runbook_url(POOL_RUNBOOK)}."
        )


def _busy_warning(plan: Plan) -> None:
    active = _active_mitigation(plan.target)
    if active is not None:
        plan.warnings.append(
            f"Mitigation #{active.pk} ({active.command}) is still {active.status}: a new one is refused until it ends."
        )


def _active_mitigation(target: Target) -> Mitigation | None:
    return Mitigation.objects.filter(target=target, status__in=ACTIVE_MITIGATION_STATUSES).first()


# -- requesting ------------------------------------------------------------------------


def mitigation_request(*, plan: Plan, actor: Actor) -> Mitigation:
    """Record a confirmed plan and enqueue it after commit. ``MitigationBusyError`` if one is under way."""
    try:
        with transaction.atomic():
            mitigation = Mitigation.objects.create(
                incident=plan.incident,
                service=plan.service,
                target=plan.target,
                service_slug=plan.service.slug,
                target_name=plan.target.name,
                deployment=plan.target.config["deployment"],
                namespace=plan.target.config["namespace"],
                action=plan.action,
                replicas=plan.replicas,
                command=plan.command,
                warnings=plan.warnings,
                safety=plan.safety,
                requested_by=actor.user,
                actor_kind=actor.kind,
                actor_name=actor.name,
            )
            transaction.on_commit(lambda: mitigation_enqueue(mitigation_id=mitigation.pk))
    except IntegrityError:
        active = _active_mitigation(plan.target)
        raise MitigationBusyError(
            f"Mitigation #{active.pk} of {plan.target.config.get('deployment')} is still {active.status} "
            f"({active.command}); wait for its outcome on the timeline."
            if active
            else "Another mitigation of this deployment was just requested; wait for its outcome.",
            active.pk if active else None,
        ) from None
    logger.info("mitigation %s queued for %s: %s", mitigation.pk, plan.incident.reference, plan.command)
    return mitigation


def mitigation_enqueue(*, mitigation_id: int) -> None:
    from diagnostics.tasks import run_mitigation

    try:
        run_mitigation.apply_async(
            args=[mitigation_id],
            queue="diagnostics",
            soft_time_limit=setting(SOFT_TIME_LIMIT),
            time_limit=setting(TIME_LIMIT),
            expires=setting(EXPIRES_SECONDS),
        )
    except Exception as exc:  # the broker is down: the mitigation fails visibly, nothing runs
        logger.exception("could not enqueue mitigation %s", mitigation_id)
        mitigation_finish(
            mitigation_id=mitigation_id,
            status=MitigationStatus.FAILED,
            error=f"not run: could not queue it ({type(exc).__name__})",
            from_status=MitigationStatus.QUEUED,
        )


# -- executing -------------------------------------------------------------------------


def mitigation_claim(*, mitigation_id: int, now: datetime | None = None) -> Mitigation | None:
    """Take a queued mitigation for this delivery; None if another delivery took it, or it is over or too old."""
    now = now or timezone.now()
    expires = timedelta(seconds=setting(EXPIRES_SECONDS))
    claimed = Mitigation.objects.filter(
        pk=mitigation_id, status=MitigationStatus.QUEUED, created_at__gte=now - expires
    ).update(status=MitigationStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return Mitigation.objects.select_related("target", "incident").get(pk=mitigation_id)


def mitigation_execute(*, mitigation_id: int, interrupts: tuple[type[BaseException], ...] = ()) -> str | None:
    """Run one confirmed mitigation, once. Returns its final status, or None when this delivery had nothing to do."""
    now = timezone.now()
    mitigation = mitigation_claim(mitigation_id=mitigation_id, now=now)
    if mitigation is None:
        _expire_if_stale(mitigation_id, now=now)
        return None
    target = mitigation.target
    if target is None or target.kind != TargetKind.KUBERNETES:
        return _fail(mitigation_id, "not run: its kubernetes target was removed")
    config = dict(target.config)
    if not config.get("actions"):
        return _fail(mitigation_id, "not run: actions were disabled for this target after it was confirmed")
    try:
        if mitigation.action == MitigationAction.SCALE:
            result = kubernetes.deployment_scale(config, replicas=mitigation.replicas)
        else:
            result = kubernetes.deployment_restart(config, now=timezone.now())
    except interrupts:
        return _fail(
            mitigation_id,
            f"did not finish within {setting(SOFT_TIME_LIMIT)} s; the outcome is unknown: check with "
            f"kubectl get deployment {config.get('deployment')} -n {config.get('namespace')}",
        )
    except Exception as exc:  # a refusal or an unreachable API is the outcome, reported on the timeline
        if not isinstance(exc, ApiException | ConfigurationError | urllib3.exceptions.HTTPError | OSError):
            logger.exception("mitigation %s crashed", mitigation_id)
        return _fail(mitigation_id, describe_error(exc, config))
    mitigation_finish(
        mitigation_id=mitigation_id,
        status=MitigationStatus.SUCCEEDED,
        before=result.before,
        after=result.after,
        detail=result.detail,
    )
    return MitigationStatus.SUCCEEDED


def _fail(mitigation_id: int, error: str) -> str:
    mitigation_finish(mitigation_id=mitigation_id, status=MitigationStatus.FAILED, error=error)
    return MitigationStatus.FAILED


def _expire_if_stale(mitigation_id: int, *, now: datetime) -> bool:
    """A queued mitigation past its expiry is failed (and reported), never run late. True if this call did."""
    expires = setting(EXPIRES_SECONDS)
    if not Mitigation.objects.filter(
        pk=mitigation_id, status=MitigationStatus.QUEUED, created_at__lt=now - timedelta(seconds=expires)
    ).exists():
        return False
    return mitigation_finish(
        mitigation_id=mitigation_id,
        status=MitigationStatus.FAILED,
        error=f"not run: no worker started it within {expires} s, and the situation may have changed; ask again",
        now=now,
        from_status=MitigationStatus.QUEUED,
    )


def describe_error(exc: Exception, config: dict) -> str:
    """A refusal or failure of the Kubernetes API, in words an engineer can act on. Never a credential."""
    if isinstance(exc, ApiException):
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            pass
        said = f": {message[:400]}" if message else ""
        if exc.status == 403:
            return (
                f"the Kubernetes API refused it (403 Forbidden){said}. Let Orion Ops's service account scale and "
                f"restart here: apply {RBAC_ACTIONS} in namespace {config.get('namespace')}."
            )
        if exc.status == 401:
            return "the Kubernetes API refused the credentials (401): check the kubeconfig or service account token"
        if exc.status == 404:
            return f"not found (404){said}"
        return f"the Kubernetes API answered {exc.status} {exc.reason or ''}".rstrip() + said
    if isinstance(exc, CollectorError):
        return exc.message
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return f"the Kubernetes API is unreachable or too slow ({type(exc).__name__})"
    return f"unexpected error: {type(exc).__name__}"


def mitigation_finish(
    *,
    mitigation_id: int,
    status: str,
    before: int | None = None,
    after: int | None = None,
    detail: str = "",
    error: str = "",
    now: datetime | None = None,
    from_status: str = MitigationStatus.RUNNING,
) -> bool:
    """Record the outcome of a mitigation in ``from_status`` and put it on the timeline, once. True if this call did.

    A queued mitigation is only ever finished unrun (``from_status`` queued: not enqueued, or expired).
    """
    now = now or timezone.now()
    with transaction.atomic():
        finished = Mitigation.objects.filter(pk=mitigation_id, status=from_status).update(
            status=status,
            finished_at=now,
            replicas_before=before,
            replicas_after=after,
            detail=detail[:2000],
            error=error[:2000],
        )
        if not finished:
            return False
        mitigation = Mitigation.objects.select_related("incident", "requested_by").get(pk=mitigation_id)
        text, data = timeline_summary(mitigation)
        actor = Actor(kind=mitigation.actor_kind, name=mitigation.actor_name, user=mitigation.requested_by)
        entry = timeline_entry_add(
            incident=mitigation.incident, kind=TimelineKind.MITIGATION, actor=actor, text=text, data=data, at=now
        )
        Mitigation.objects.filter(pk=mitigation_id).update(timeline_entry=entry)
    logger.info("mitigation %s %s: %s", mitigation_id, status, error or detail)
    return True


def timeline_summary(mitigation: Mitigation) -> tuple[str, dict]:
    deployment = mitigation.deployment
    if mitigation.status == MitigationStatus.SUCCEEDED:
        if mitigation.action == MitigationAction.SCALE:
            text = (
                f"Scaled deployment {deployment} from {mitigation.replicas_before} to "
                f"{mitigation.replicas_after} replicas"
            )
        else:
            text = f"Started a rollout restart of deployment {deployment} ({mitigation.replicas_after} replicas)"
    else:
        what = (
            f"Scaling deployment {deployment} to {mitigation.replicas} replicas"
            if mitigation.action == MitigationAction.SCALE
            else f"Rollout restart of deployment {deployment}"
        )
        text = f"{what} failed: {mitigation.error}"
    text += f"\n$ {mitigation.command}"
    if mitigation.warnings:
        text += "\nWarned before confirming: " + " ".join(mitigation.warnings)
    data = {
        "mitigation_id": mitigation.pk,
        "action": mitigation.action,
        "service": mitigation.service_slug,
        "target": {"kind": TargetKind.KUBERNETES.value, "name": mitigation.target_name},
        "deployment": mitigation.deployment,
        "namespace": mitigation.namespace,
        "command": mitigation.command,
        "status": mitigation.status,
        "replicas": mitigation.replicas,
        "old": {"replicas": mitigation.replicas_before},
        "new": {"replicas": mitigation.replicas_after},
        "error": mitigation.error,
        "warnings": mitigation.warnings,
        "safety": mitigation.safety,
    }
    return text, data


# -- housekeeping ----------------------------------------------------------------------


def mitigations_reap_stale(*, now: datetime | None = None) -> int:
    """End mitigations no worker will finish: running past the hard limit (worker killed), or queued too long."""
    now = now or timezone.now()
    reaped = 0
    hard = setting(TIME_LIMIT) + setting(STALE_GRACE_SECONDS)
    for pk in Mitigation.objects.filter(
        status=MitigationStatus.RUNNING, started_at__lt=now - timedelta(seconds=hard)
    ).values_list("pk", flat=True):
        mitigation = Mitigation.objects.get(pk=pk)
        reaped += mitigation_finish(
            mitigation_id=pk,
            status=MitigationStatus.FAILED,
            error="the worker running it stopped; the outcome is unknown: check with kubectl get deployment "
            f"{mitigation.deployment} -n {mitigation.namespace}",
            now=now,
        )
    expires = setting(EXPIRES_SECONDS)
    for pk in Mitigation.objects.filter(
        status=MitigationStatus.QUEUED, created_at__lt=now - timedelta(seconds=expires)
    ).values_list("pk", flat=True):
        reaped += _expire_if_stale(pk, now=now)
    return reaped


# -- reads -----------------------------------------------------------------------------


def mitigations_for_incident(*, incident: Incident) -> QuerySet[Mitigation]:
    return Mitigation.objects.filter(incident=incident).order_by("-created_at", "-id")


def mitigation_targets_for_incident(*, incident: Incident) -> QuerySet[Target]:
    """The Kubernetes targets of the incident's services, whether they allow actions or not."""
    return (
        Target.objects.filter(service__incidents=incident, kind=TargetKind.KUBERNETES)
        .select_related("service")
        .order_by("service__slug")
    )


# -- the incident page's Mitigate panel (registered in DiagnosticsConfig.ready()) --------------

MITIGATIONS_SHOWN = 50


def panel_context(request, incident: Incident) -> dict:
    from incidents import roles
    from incidents.models import Status

    items = list(mitigations_for_incident(incident=incident)[:MITIGATIONS_SHOWN])
    user = getattr(request, "user", None)
    return {
        "mitigate": {
            "url": f"/api/v1/incidents/{incident.pk}/mitigations/",
            "targets": [
                {
                    "service": target.service.slug,
                    "name": target.name,
                    "deployment": target.config.get("deployment", ""),
                    "namespace": target.config.get("namespace", ""),
                    "actions": bool(target.config.get("actions")) and bool(target.config.get("deployment")),
                }
                for target in mitigation_targets_for_incident(incident=incident)
            ],
            "mitigations": items,
            "can_act": roles.has_role(user, roles.ENGINEER) and incident.status != Status.REVIEWED,
            "active": any(m.status in ACTIVE_MITIGATION_STATUSES for m in items),
            "max_replicas": setting(MAX_REPLICAS),
            "rbac_actions": RBAC_ACTIONS,
        }
    }
