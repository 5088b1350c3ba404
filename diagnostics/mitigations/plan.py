"""What a mitigation would do: validate a request, name the command, read the state, warn.

``mitigation_plan`` reads the cluster and the service's database with short
timeouts; what cannot be read becomes a warning, never an error. The API
answers the plan as a 400 (``would_run``, ``warnings``) until the person
confirms it.
"""

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from diagnostics import conf
from diagnostics.actions import kubernetes
from diagnostics.collectors.base import CollectorError, ConfigurationError, Secrets, TargetSpec, Window
from diagnostics.collectors.postgres import PostgresCollector, TooManyConnections
from diagnostics.credentials import target_secrets
from diagnostics.mitigations.selectors import mitigation_active
from diagnostics.models import MitigationAction, Target, TargetKind
from diagnostics.runbooks import runbook_url
from incidents.models import Incident, Service

logger = logging.getLogger(__name__)

POOL_RUNBOOK = "db-connection-pool-exhausted"


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
    """
    errors: dict[str, list[str]] = {}
    max_replicas = conf.get("MITIGATION_MAX_REPLICAS")
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
            f"(sync_services) and apply {kubernetes.RBAC_ACTIONS} in namespace {target.config.get('namespace')}."
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
    config = plan.target.config
    try:
        plan.current_replicas = kubernetes.deployment_replicas(config, timeout=conf.kubernetes_timeout(config))
    except Exception as exc:  # the answer still says what would run; the person decides
        if not isinstance(exc, kubernetes.EXPECTED_FAILURES):
            logger.exception("mitigation plan: could not read the replicas of %s", plan.target)
        plan.warnings.append(
            f"Could not read the current replica count of deployment {config.get('deployment')}: "
            f"{kubernetes.describe_failure(exc, config)}"
        )
        return
    plan.safety["current_replicas"] = plan.current_replicas
    if plan.action == MitigationAction.SCALE and plan.current_replicas == plan.replicas:
        plan.warnings.append(
            f"Deployment {config.get('deployment')} already has {plan.replicas} replicas: nothing would change."
        )


def _autoscaler_warnings(plan: Plan) -> None:
    """A HorizontalPodAutoscaler on the deployment undoes a manual scale outside its range, or at its next sync."""
    config = plan.target.config
    try:
        autoscalers = kubernetes.deployment_autoscalers(config, timeout=conf.kubernetes_timeout(config))
    except Exception:  # the autoscaler check is advice; the scale itself does not depend on it
        logger.info("mitigation plan: could not list HPAs of %s", plan.target, exc_info=True)
        return
    for hpa in autoscalers:
        low, high = hpa.min_replicas, hpa.max_replicas
        plan.safety["autoscaler"] = {"name": hpa.name, "min": low, "max": high}
        if plan.replicas > high:
            undo = f"it will scale back down to its maximum of {high}; raise maxReplicas instead"
        elif plan.replicas < low:
            undo = f"it will scale back up to its minimum of {low}; lower minReplicas instead"
        else:
            undo = "it may change the count again at its next evaluation"
        plan.warnings.append(
            f"HorizontalPodAutoscaler {hpa.name} manages {config['deployment']} (min {low}, max {high}): {undo}."
        )


@dataclass(frozen=True)
class Connections:
    usable: int  # max_connections minus the reserved slots
    in_use: int  # client connections, not counting the check's own

    @property
    def free(self) -> int:
        return max(self.usable - self.in_use, 0)


def database_connections(target: Target, secrets: Secrets) -> Connections:
    """Usable and used connections of a PostgreSQL target, read with the collector's own check, fast."""
    config = conf.collector_config(
        TargetKind.POSTGRES,
        connect_timeout=conf.get("MITIGATION_POSTGRES_CONNECT_TIMEOUT"),
        statement_timeout_ms=conf.get("MITIGATION_POSTGRES_STATEMENT_TIMEOUT_MS"),
    )
    collector = PostgresCollector(config=config)
    spec = TargetSpec(kind=target.kind, name=target.name, config=dict(target.config))
    now = timezone.now()
    window = Window(start=now, now=now)
    with collector.open(spec, window, secrets) as session:
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
    arithmetic = f"{pods} pods × {pool} connections (pool_size_per_pod) = {needed}{added}."
    try:
        secrets = target_secrets(database.config, where="in the web process")
    except ConfigurationError as exc:  # the DSN variable is refused or unset here: nothing is sent
        check["error"] = exc.message
        plan.warnings.append(f"Could not check {database.name}'s free connections: {exc.message}. {arithmetic}")
        return
    try:
        connections = database_connections(database, secrets)
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
        plan.warnings.append(f"Could not check {database.name}'s free connections ({exc.message}). {arithmetic}")
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
    active = mitigation_active(target=plan.target)
    if active is not None:
        plan.warnings.append(
            f"Mitigation #{active.pk} ({active.command}) is still {active.status}: a new one is refused until it ends."
        )
