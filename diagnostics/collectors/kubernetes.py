"""Kubernetes collector: what `kubectl get pods / describe / logs / get events / top / get hpa / get jobs /
top nodes` would show.

One ApiClient per target, built from its kubeconfig and context or from the
in-cluster service account; never the process-global configuration. Every
call has a timeout. Pods are listed by the target's label selector, and the
labels of what comes back are checked again before anything is concluded.
It only reads: the writes a mitigation makes are in ``diagnostics/actions/``.
"""

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from diagnostics.collectors import kube_messages as messages
from diagnostics.collectors import logs
from diagnostics.collectors.base import (
    NO_SECRETS,
    Collector,
    CollectorConfig,
    CollectorError,
    ConfigurationError,
    Evidence,
    Finding,
    FindingStatus,
    Secrets,
    Table,
    Window,
    crossed,
    grade,
)

OK, WARN, CRIT = FindingStatus.OK, FindingStatus.WARN, FindingStatus.CRIT


@dataclass(frozen=True)
class KubernetesConfig(CollectorConfig):
    """Limits and thresholds; each overridable as ``DIAGNOSTICS_KUBERNETES_<FIELD>``."""

    connect_timeout_seconds: float = 3.0  # of every API call
    read_timeout_seconds: float = 10.0  # of every API call, unless the target sets timeout_seconds
    log_tail_lines: int = 500  # read from each container log
    log_limit_bytes: int = 262144  # read from each container log, at most
    log_pods: int = 10  # pods whose logs are read (troubled ones first), at most
    log_containers: int = 20  # container logs (current and previous count apart) read per run, at most
    init_stuck_seconds: int = 300  # an init container running this long while its pod waits is reported
    events_shown: int = 50
    restarts_warn: int = 3  # container restarts, at least
    usage_warn: float = 0.8  # CPU or memory used / limit (kubectl top), at least
    usage_crit: float = 0.9
    cpu_over_request_warn: float = 1.5  # CPU used / request of a container without a CPU limit, at least
    recent_change_before_seconds: int = 3600  # a rollout this long before the window counts as "just before"


def request_timeout(target_config, config: KubernetesConfig) -> tuple[float, float]:
    """(connect, read) timeout of every call to a target's API server."""
    return (config.connect_timeout_seconds, float(target_config.get("timeout_seconds", config.read_timeout_seconds)))


EVENT_GROUPS = {
    "scheduling": ("FailedScheduling", "Scheduled", "Preempted", "NotTriggerScaleUp", "TriggeredScaleUp"),
    "probes": ("Unhealthy", "ProbeWarning"),
    "image": ("Failed", "BackOff", "Pulling", "Pulled", "ErrImageNeverPull", "InspectFailed"),
    "oom": ("OOMKilling", "OOMKilled", "SystemOOM"),
    "scaling": ("ScalingReplicaSet", "SuccessfulRescale", "FailedGetResourceMetric", "FailedComputeMetricsReplicas"),
    "volume": ("FailedMount", "FailedAttachVolume", "FailedBinding", "ProvisioningFailed", "VolumeResizeFailed"),
    "controller": (
        "FailedCreate",
        "SuccessfulCreate",
        "BackoffLimitExceeded",
        "DeadlineExceeded",
        "SuccessfulDelete",
        "FailedDelete",
        "Completed",
    ),
    "eviction": ("Evicted", "Preempting", "TaintManagerEviction", "Killing"),
    "node": ("NodeNotReady", "NodeHasInsufficientMemory", "NodeHasDiskPressure", "EvictionThresholdMet"),
}
# The events that most often decide an incident, most telling first; other Warnings rank after them.
DECIDING_REASONS = (
    "FailedCreate", "FailedScheduling", "BackoffLimitExceeded", "DeadlineExceeded", "Failed", "FailedMount",
    "FailedAttachVolume", "ProvisioningFailed", "Evicted", "Unhealthy", "BackOff", "FailedGetResourceMetric",
    "FailedComputeMetricsReplicas",
)  # fmt: skip
# Warnings that keep a scheduled pod in ContainerCreating.
STUCK_CREATING = ("FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox", "FailedMapVolume")
# Which node condition a kubelet eviction for a resource points at.
EVICTION_PRESSURE = {"memory": "MemoryPressure", "ephemeral-storage": "DiskPressure", "nodefs": "DiskPressure",
                     "imagefs": "DiskPressure", "pids": "PIDPressure"}  # fmt: skip
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def parse_selector(selector: str) -> dict[str, str]:
    """``app=task-service,tier=web`` → labels. Only equality terms; they are what workloads use."""
    labels = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!"):
            raise ConfigurationError(f"label selector term {term!r}: only key=value terms are supported")
        labels[key.strip()] = value.lstrip("=").strip()
    if not labels:
        raise ConfigurationError("the label selector is empty")
    return labels


def quantity(value: str | None) -> float | None:
    """A Kubernetes quantity as kubectl reads it: CPU in cores ("950m" → 0.95), memory in bytes ("256Mi").

    None when absent or malformed.
    """
    if not value:
        return None
    try:
        number = float(parse_quantity(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _mib(value: float) -> str:
    return f"{value / 2**20:.0f}Mi"


def _millicores(value: float) -> str:
    return f"{value * 1000:.0f}m"


def _when(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def api_client(config) -> k8s.ApiClient:
    """A client of its own for one target: its kubeconfig and context, or the in-cluster account."""
    configuration = k8s.Configuration()
    try:
        if config.get("in_cluster"):
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            path = config.get("kubeconfig")
            if not path:
                raise ConfigurationError("kubernetes target: set kubeconfig (a path) or in_cluster: true")
            k8s_config.load_kube_config(
                config_file=path,
                context=config.get("context"),
                client_configuration=configuration,
                persist_config=False,
            )
    except ConfigurationError:
        raise
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigurationError(f"cannot load the Kubernetes configuration: {exc}") from exc
    configuration.retries = False  # our own retry policy applies, not urllib3's
    return k8s.ApiClient(configuration)


@dataclass
class Session:
    api: k8s.ApiClient
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api
    autoscaling: k8s.AutoscalingV2Api
    batch: k8s.BatchV1Api
    custom: k8s.CustomObjectsApi
    namespace: str
    selector: str
    labels: dict[str, str]
    deployment: str
    timeout: tuple[float, float]
    last_query: str = ""
    _pods: list | None = None
    _events: list | None = None
    _jobs: list | None = None
    _logs: dict = field(default_factory=dict)
    log_reads: int = 0
    foreign: list[str] = field(default_factory=list)

    def pods(self) -> list:
        if self._pods is None:
            self.last_query = f"GET pods -n {self.namespace} -l {self.selector}"
            items = self.core.list_namespaced_pod(
                self.namespace, label_selector=self.selector, _request_timeout=self.timeout
            ).items
            mine = []
            for pod in items:
                pod_labels = pod.metadata.labels or {}
                if all(pod_labels.get(k) == v for k, v in self.labels.items()):
                    mine.append(pod)
                else:
                    self.foreign.append(pod.metadata.name)
            self._pods = mine
        return self._pods

    def events(self) -> list:
        if self._events is None:
            self.last_query = f"GET events -n {self.namespace}"
            self._events = self.core.list_namespaced_event(self.namespace, _request_timeout=self.timeout).items
        return self._events

    def events_for(self, names: set[str]) -> list:
        return [e for e in self.events() if e.involved_object and e.involved_object.name in names]

    def jobs(self) -> list:
        """The target's Jobs: labelled like its pods, owning its pods, or named after its deployment."""
        if self._jobs is None:
            self.last_query = f"GET jobs -n {self.namespace}"
            items = self.batch.list_namespaced_job(self.namespace, _request_timeout=self.timeout).items
            owners = {
                ref.name for pod in self.pods() for ref in pod.metadata.owner_references or [] if ref.kind == "Job"
            }  # fmt: skip

            def labelled(labels) -> bool:
                return bool(labels) and all(labels.get(k) == v for k, v in self.labels.items())

            def template_labels(job):
                template = job.spec.template if job.spec else None
                return (template.metadata.labels if template and template.metadata else None) or {}

            self._jobs = [
                job for job in items
                if job.metadata.name in owners
                or labelled(job.metadata.labels)
                or labelled(template_labels(job))
                or (self.deployment and job.metadata.name.startswith(f"{self.deployment}-"))
            ]  # fmt: skip
        return self._jobs

    def log(self, pod: str, container: str, *, previous: bool, tail: int, limit_bytes: int) -> str | None:
        """A container's log (read once per run), or None when there is none to read.

        The API server answers 400 for a container still waiting to start ("PodInitializing",
        "ContainerCreating") and for a previous container that does not exist: both are normal.
        """
        key = (pod, container, previous)
        if key not in self._logs:
            self.last_query = f"kubectl logs {pod} -c {container} -n {self.namespace} --tail={tail}" + (
                " --previous" if previous else ""
            )
            self.log_reads += 1
            try:
                text = self.core.read_namespaced_pod_log(
                    pod, self.namespace, container=container, previous=previous, tail_lines=tail,
                    limit_bytes=limit_bytes, _request_timeout=self.timeout,
                )  # fmt: skip
            except ApiException as exc:
                if exc.status not in (400, 404):
                    raise
                text = None
            self._logs[key] = text
        return self._logs[key]


def _meaning(code: int | None, *, inline: bool = False) -> str:
    meaning = messages.exit_meaning(code)
    return (f", {meaning}" if inline else f" ({meaning})") if meaning else ""


def _probe_facts(pod, container: str, message: str) -> dict:
    """What a probe event says (kind, cause, status, url) with the probe's own path and port from the pod spec."""
    facts = messages.parse_probe(message)
    spec = next((c for c in pod.spec.containers or [] if c.name == container), None)
    probe = getattr(spec, f"{facts['kind']}_probe", None) if spec is not None and facts["kind"] else None
    facts.update({"path": "", "port": "", "handler": ""})
    if probe is not None:
        if probe.http_get is not None:
            facts.update(handler="httpGet", path=probe.http_get.path or "/", port=str(probe.http_get.port))
        elif probe.tcp_socket is not None:
            facts.update(handler="tcpSocket", port=str(probe.tcp_socket.port))
        elif probe.var_exec is not None:
            facts.update(handler="exec")
        elif probe.grpc is not None:
            facts.update(handler="grpc", port=str(probe.grpc.port))
    return facts


def _troubled(pod) -> bool:
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
    return (
        pod.status.phase not in ("Running", "Succeeded")
        or any(not s.ready or (s.restart_count or 0) > 0 for s in pod.status.container_statuses or [])
        or any(s.state and s.state.terminated and s.state.terminated.exit_code for s in statuses)
    )


def _event_time(event):
    return event.last_timestamp or event.event_time or event.first_timestamp or event.metadata.creation_timestamp


class KubernetesCollector(Collector):
    kind = "kubernetes"
    config_class = KubernetesConfig
    config: KubernetesConfig
    checks = ("pods", "events", "logs", "top", "deployment", "hpa", "endpoints", "jobs", "nodes")
    soft_time_limit = 90
    time_limit = 120

    @contextmanager
    def open(self, target, window, secrets: Secrets = NO_SECRETS):
        config = target.config
        namespace = config.get("namespace")
        if not namespace:
            raise ConfigurationError(f"kubernetes target {target.name}: no namespace")
        selector = config.get("selector", "")
        labels = parse_selector(selector)
        api = api_client(config)
        try:
            session = Session(
                api=api,
                core=k8s.CoreV1Api(api),
                apps=k8s.AppsV1Api(api),
                autoscaling=k8s.AutoscalingV2Api(api),
                batch=k8s.BatchV1Api(api),
                custom=k8s.CustomObjectsApi(api),
                namespace=namespace,
                selector=selector,
                labels=labels,
                deployment=config.get("deployment") or "",
                timeout=request_timeout(config, self.config),
            )
            try:
                session.pods()
            except ApiException as exc:
                if exc.status == 401:
                    raise CollectorError("the Kubernetes API refused the credentials (401)", permanent=True) from exc
                if exc.status != 403:  # 403: the checks report what they may not see
                    raise CollectorError(
                        f"the Kubernetes API answered {exc.status}", permanent=exc.status < 500
                    ) from exc
                session._pods = None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise CollectorError(
                    f"Kubernetes API unreachable or too slow: {type(exc).__name__}", permanent=False
                ) from exc
            yield session
        finally:
            api.close()

    def describe_error(self, exc: Exception) -> str:
        if isinstance(exc, ApiException):
            if exc.status == 403:
                return "forbidden (403): the service account may not read this; see deploy/ for the RBAC rules"
            if exc.status == 404:
                return "not found (404)"
            return f"the Kubernetes API answered {exc.status} {exc.reason or ''}".strip()
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            return f"Kubernetes API unreachable or too slow ({type(exc).__name__})"
        return super().describe_error(exc)

    # Pods ---------------------------------------------------------------------------

    def pods(self, session: Session, window: Window) -> list[Finding]:
        pods = session.pods()
        query = f"kubectl get pods -n {session.namespace} -l {session.selector}"
        if not pods:
            return [
                self.finding(
                    "pods",
                    CRIT,
                    f"No pods match {session.selector} in {session.namespace}",
                    subject=session.selector,
                    evidence=Evidence(
                        query=query,
                        observed=0,
                        threshold=1,
                        unit="pods",
                        data={"problem": "no_pods", "pod": "", "container": "", "node": ""},
                    ),  # fmt: skip
                    remediation="Check the deployment exists and its selector; a workload scaled to zero serves "
                    "nothing. A controller that cannot create pods says why in its events (FailedCreate).",
                    runbook="service-not-starting",
                )
            ]
        findings = []
        rows = []
        for pod in pods:
            rows.append(self._pod_row(pod))
            findings.extend(self._pod_trouble(session, pod, window))
        table = Table(columns=["pod", "phase", "ready", "restarts", "node", "reason"], rows=rows)
        if not findings:
            restarts = sum(row[3] for row in rows)
            completed = sum(1 for pod in pods if pod.status.phase == "Succeeded")
            starting = sum(1 for pod in pods if pod.status.phase == "Pending")
            running = len(pods) - completed - starting
            summary = f"All {running} pods running and ready ({restarts} restarts)"
            if completed:
                summary += f"; {completed} completed"
            if starting:
                summary += f"; {starting} starting"
            findings.append(
                self.ok(
                    "pods",
                    summary,
                    subject=session.selector,
                    evidence=Evidence(query=query, observed=len(pods), threshold=len(pods), unit="pods", table=table),
                )
            )
        else:
            for finding in findings:
                finding.evidence.table = finding.evidence.table or table
        return findings

    @staticmethod
    def _pod_row(pod) -> list:
        statuses = pod.status.container_statuses or []
        ready = sum(1 for s in statuses if s.ready)
        restarts = sum(s.restart_count or 0 for s in statuses)
        reason = pod.status.reason or ""
        for s in (pod.status.init_container_statuses or []) + statuses:
            if s.state and s.state.waiting and s.state.waiting.reason and s.state.waiting.reason != "PodInitializing":
                reason = s.state.waiting.reason
            elif s.state and s.state.terminated and s.state.terminated.exit_code:
                reason = s.state.terminated.reason or f"exit {s.state.terminated.exit_code}"
        return [pod.metadata.name, pod.status.phase, f"{ready}/{len(pod.spec.containers)}", restarts,
                pod.spec.node_name or "", reason]  # fmt: skip

    def _decisive_line(self, session: Session, pod: str, container: str, *, previous: bool) -> str:
        """The most telling line of a container's log, read within the run's bounds; "" when none."""
        if session.log_reads >= self.config.log_containers:
            return ""
        try:
            text = session.log(pod, container, previous=previous, tail=self.config.log_tail_lines,
                               limit_bytes=self.config.log_limit_bytes)  # fmt: skip
        except ApiException:
            return ""  # the logs check reports what it may not read
        return logs.analyze((text or "").splitlines()).decisive_line

    def _pod_trouble(self, session: Session, pod, window: Window) -> list[Finding]:
        name = pod.metadata.name
        node = pod.spec.node_name or ""
        found = []

        def add(status, summary, remediation, runbook=None, observed=None, *, check="pods", **data):
            facts = {"pod": name, "container": "", "node": node, "reason": "", "message": "", "exit_code": None,
                     "restarts": 0, **data}  # fmt: skip
            found.append(
                self.finding(
                    check,
                    status,
                    summary,
                    subject=name,
                    evidence=Evidence(
                        query=f"kubectl describe pod {name} -n {session.namespace}", observed=observed, data=facts
                    ),
                    remediation=remediation,
                    runbook=runbook,
                )
            )

        if pod.status.reason == "Evicted":
            message = pod.status.message or "node pressure"
            resource = re.search(r"low on resource: ([\w-]+)", message)
            condition = EVICTION_PRESSURE.get(resource.group(1), "") if resource else ""
            pressure = {"node_pressure": {"node": node, "condition": condition}} if condition else {}
            where = f" from {node}" + (f" ({condition})" if condition else "") if node else ""
            add(WARN, f"{name} was evicted{where}: {message}",
                "Evicted pods point at node pressure (memory, disk); check the node's conditions and the pods' "
                "requests against their usage.", observed="Evicted", problem="evicted", reason="Evicted",
                message=message, **pressure)  # fmt: skip
            return found

        scheduled = bool(node) or any(
            c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions or []
        )
        if pod.status.phase == "Pending" and not scheduled:
            self._unscheduled(session, pod, add)
            return found

        for status in pod.status.init_container_statuses or []:
            self._init_trouble(session, pod, status, window, add)
        if found:
            return found  # the main containers wait for the init containers: "PodInitializing" is normal

        events = session.events_for({name})
        for status in pod.status.container_statuses or []:
            self._container_trouble(session, pod, status, events, add)
        if not found and pod.status.phase == "Pending":
            self._stuck_creating(pod, events, add)
        if not found and pod.status.phase == "Failed":
            add(CRIT, f"{name} failed: {pod.status.reason or 'Failed'}: {pod.status.message or ''}".rstrip(": "),
                "Read the pod's events and its containers' last log lines.", "service-not-starting",
                observed="Failed", problem="exited", reason=pod.status.reason or "Failed",
                message=pod.status.message or "")  # fmt: skip
        return found

    @staticmethod
    def _stuck_creating(pod, events, add) -> None:
        """Scheduled but no container starts: the kubelet cannot mount a volume or create the sandbox."""
        blocking = [e for e in events if e.type == "Warning" and e.reason in STUCK_CREATING]
        if not blocking:
            return
        blocking.sort(key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))
        event = blocking[-1]
        message = event.message or ""
        add(CRIT, f"{pod.metadata.name} is stuck in ContainerCreating: {event.reason}: {message}",
            "A volume's ConfigMap, Secret or claim is missing or cannot attach, or the network plugin cannot set "
            "up the pod: fix what the message names; the pod starts once it exists.", "service-not-starting",
            observed="ContainerCreating", problem="container_creating", reason=event.reason, message=message,
            missing=messages.parse_config_error(message))  # fmt: skip

    def _unscheduled(self, session: Session, pod, add) -> None:
        name = pod.metadata.name
        scheduling_events = [e for e in session.events_for({name}) if e.reason == "FailedScheduling"]
        scheduling_events.sort(key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))
        unscheduled = next(
            (c for c in pod.status.conditions or [] if c.type == "PodScheduled" and c.status == "False"), None
        )
        message = (scheduling_events[-1].message if scheduling_events else "") or (
            unscheduled.message if unscheduled else ""
        )
        if not (scheduling_events or unscheduled):
            add(WARN, f"{name} is Pending, not yet scheduled", "Check `kubectl describe pod` for what it waits on.",
                "service-not-starting", observed="Pending", problem="pending")  # fmt: skip
            return
        parsed = messages.parse_scheduling(message)
        pressure = {"node_pressure": {"node": "", "condition": parsed.pressure}} if parsed.pressure else {}
        nodes = f" ({parsed.nodes_available}/{parsed.nodes_total} nodes available)" if parsed.nodes_total else ""
        add(CRIT, f"{name} is Pending, unschedulable: {parsed.describe()}{nodes}",
            "Free or add capacity, lower the pod's requests, add tolerations, fix the affinity or node selector, "
            f"or bind the volume claim; scheduler: {message}", "service-not-starting", observed="Pending",
            problem="unschedulable", reason="FailedScheduling", message=message, scheduling=parsed.to_dict(),
            **pressure)  # fmt: skip

    def _init_trouble(self, session: Session, pod, status, window: Window, add) -> None:
        name, container = pod.metadata.name, status.name
        waiting = status.state.waiting if status.state else None
        running = status.state.running if status.state else None
        terminated = status.state.terminated if status.state else None
        last = status.last_state.terminated if status.last_state else None
        restarts = status.restart_count or 0
        where = f"{name}: init container {container}"
        if waiting and waiting.reason == "CrashLoopBackOff":
            code = last.exit_code if last else None
            line = self._decisive_line(session, name, container, previous=True)
            add(CRIT, f"{where} in CrashLoopBackOff after {restarts} restarts; last exit code {code}"
                f"{_meaning(code)}" + (f": {line}" if line else ""),
                "The pod cannot start until this init container succeeds: read its log for what it waits on or "
                "fails at (a dependency, a migration, a permission).", "service-not-starting", observed=restarts,
                check="pods.init", container=container, problem="crash_loop", reason=last.reason if last else "",
                message=(last.message or "") if last else "", exit_code=code, restarts=restarts,
                decisive_line=line)  # fmt: skip
        elif terminated and terminated.exit_code:
            line = self._decisive_line(session, name, container, previous=False)
            add(CRIT, f"{where} exited with code {terminated.exit_code}{_meaning(terminated.exit_code)}"
                + (f": {line}" if line else ""),
                "The pod cannot start until this init container succeeds: read its log.", "service-not-starting",
                observed=terminated.exit_code, check="pods.init", container=container, problem="exited",
                reason=terminated.reason or "", message=terminated.message or "", exit_code=terminated.exit_code,
                restarts=restarts, decisive_line=line)  # fmt: skip
        elif waiting and waiting.reason in (
            "ImagePullBackOff",
            "ErrImagePull",
            "InvalidImageName",
            "CreateContainerConfigError",
            "CreateContainerError",
            "RunContainerError",
        ):
            self._waiting_trouble(session, pod, status, session.events_for({name}), add, check="pods.init")
        elif (
            running
            and running.started_at
            and (window.now - running.started_at).total_seconds() >= (self.config.init_stuck_seconds)
        ):
            minutes = (window.now - running.started_at).total_seconds() / 60
            line = self._last_line(session, name, container)
            add(WARN, f"{where} still running after {minutes:.0f} min: the pod waits for it"
                + (f"; its last log line: {line}" if line else ""),
                "Init containers usually wait for a dependency (a database, a DNS name, a migration): check that "
                "what it waits for exists and answers.", "service-not-starting", observed=round(minutes, 1),
                check="pods.init", container=container, problem="waiting", reason="Running", restarts=restarts,
                decisive_line=line)  # fmt: skip

    def _last_line(self, session: Session, pod: str, container: str) -> str:
        """The decisive line of a running container's log, else its last line."""
        if session.log_reads >= self.config.log_containers:
            return ""
        try:
            text = session.log(pod, container, previous=False, tail=self.config.log_tail_lines,
                               limit_bytes=self.config.log_limit_bytes) or ""  # fmt: skip
        except ApiException:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return logs.analyze(lines).decisive_line or (lines[-1].strip() if lines else "")

    def _container_trouble(self, session: Session, pod, status, events, add) -> None:
        name, container = pod.metadata.name, status.name
        waiting = status.state.waiting if status.state else None
        terminated = status.state.terminated if status.state else None
        last = status.last_state.terminated if status.last_state else None
        restarts = status.restart_count or 0
        common = {"container": container, "restarts": restarts}
        if waiting and waiting.reason == "CrashLoopBackOff":
            code = last.exit_code if last else None
            detail = (
                f"last exit {last.reason} (code {code}{_meaning(code, inline=True)})"
                if last
                else ("no previous exit recorded")
            )
            line = self._decisive_line(session, name, container, previous=True)
            if not line and last and last.message:  # a termination message, or a runtime's start error
                line = logs.analyze(last.message.splitlines()).decisive_line or last.message.strip()
            add(CRIT, f"{name}/{container} in CrashLoopBackOff after {restarts} restarts; {detail}"
                + (f"; log: {line}" if line else ""),
                "Read the previous container's log (the log findings) for why it exits; check config and "
                "dependencies it needs at start.", "service-not-starting", observed=restarts, problem="crash_loop",
                reason=last.reason if last else "", message=(last.message or "") if last else "",
                exit_code=code, decisive_line=line, **common)  # fmt: skip
            if last and last.reason == "OOMKilled":
                add(CRIT, f"{name}/{container} was OOMKilled (exit {last.exit_code})",
                    "The container hit its memory limit: raise the limit or find the leak (memory trend).",
                    "memory-leak", observed="OOMKilled", problem="oom_killed", reason="OOMKilled",
                    exit_code=last.exit_code, **common)  # fmt: skip
        elif waiting and waiting.reason and waiting.reason not in ("ContainerCreating", "PodInitializing"):
            self._waiting_trouble(session, pod, status, events, add)
        elif terminated and terminated.exit_code:
            code = terminated.exit_code
            line = self._decisive_line(session, name, container, previous=False)
            if not line and terminated.message:
                line = logs.analyze(terminated.message.splitlines()).decisive_line or terminated.message.strip()
            add(CRIT, f"{name}/{container} exited with code {code}{_meaning(code)} ({terminated.reason or 'Error'})"
                + (f": {line}" if line else ""),
                "The container ended in failure and is not restarted (a Job's pod, or restartPolicy Never): read "
                "its log for why.", "service-not-starting", observed=code,
                problem="oom_killed" if terminated.reason == "OOMKilled" else "exited",
                reason=terminated.reason or "", message=terminated.message or "", exit_code=code, decisive_line=line,
                **common)  # fmt: skip
        elif last and last.reason == "OOMKilled":
            add(CRIT, f"{name}/{container} was OOMKilled (exit {last.exit_code}) and restarted {restarts} times",
                "The container hit its memory limit: raise the limit or find the leak (memory trend).",
                "memory-leak", observed="OOMKilled", problem="oom_killed", reason="OOMKilled",
                exit_code=last.exit_code, **common)  # fmt: skip
        elif restarts >= self.config.restarts_warn:
            detail = f"; last exit {last.reason} (code {last.exit_code})" if last else ""
            liveness = [e for e in events if e.reason == "Unhealthy" and (e.message or "").startswith("Liveness")]
            if liveness:
                detail += f"; {liveness[-1].message}"
            probe = {"probe": _probe_facts(pod, container, liveness[-1].message)} if liveness else {}
            add(WARN, f"{name}/{container} restarted {restarts} times{detail}",
                "Read the previous container's log for the cause of the restarts.", observed=restarts,
                problem="restarts", reason=last.reason if last else "",
                message=liveness[-1].message if liveness else "", exit_code=last.exit_code if last else None,
                **probe, **common)  # fmt: skip
        elif pod.status.phase == "Running" and not status.ready and not terminated:
            probe = [e for e in events if e.reason == "Unhealthy"]
            why = probe[-1].message if probe else "not ready"
            facts = {"probe": _probe_facts(pod, container, why)} if probe else {}
            add(WARN, f"{name}/{container} is running but not ready: {why}",
                "The readiness probe fails: check the probe's path and port and what the app needs to be ready.",
                observed="NotReady", problem="not_ready", reason="Unhealthy" if probe else "NotReady",
                message=why if probe else "", **facts, **common)  # fmt: skip

    def _waiting_trouble(self, session: Session, pod, status, events, add, *, check="pods") -> None:
        name, container = pod.metadata.name, status.name
        waiting = status.state.waiting
        common = {"container": container, "restarts": status.restart_count or 0, "check": check,
                  "reason": waiting.reason, "message": waiting.message or ""}  # fmt: skip
        label = f"{name}/{container}" if check == "pods" else f"{name}: init container {container}"
        if waiting.reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
            # "Back-off pulling image" says nothing: the registry's answer is in the kubelet's Failed events.
            pulls = [e.message or "" for e in events if e.reason in ("Failed", "ErrImagePull", "InspectFailed")
                     and "image" in (e.message or "").lower()]  # fmt: skip
            answer = "\n".join([waiting.message or "", *pulls[-3:]])
            kind = "invalid" if waiting.reason == "InvalidImageName" else messages.classify_image_pull(answer)
            words, advice = messages.PULL_WORDS[kind]
            spec = pod.spec.init_containers if check != "pods" else pod.spec.containers
            image = next((c.image for c in spec or [] if c.name == container), status.image)
            said = (pulls[-1] if pulls else waiting.message) or ""
            common["message"] = said
            add(CRIT, f"{label} cannot pull {image}: {words}", f"{advice} Registry said: {said}",
                "service-not-starting", observed=waiting.reason, problem="image_pull", image=image, pull=kind,
                **common)  # fmt: skip
        elif waiting.reason == "CreateContainerConfigError":
            missing = messages.parse_config_error(waiting.message or "")
            add(CRIT, f"{label}: {waiting.reason}: {waiting.message or ''}",
                "A referenced Secret or ConfigMap (or a key of it) is missing: create it or fix the reference in the "
                "pod spec (env, envFrom, volumes).", "service-not-starting", observed=waiting.reason,
                problem="config_error", missing=missing, **common)  # fmt: skip
        elif waiting.reason in ("CreateContainerError", "RunContainerError", "StartError"):
            line = logs.analyze((waiting.message or "").splitlines()).decisive_line
            add(CRIT, f"{label}: {waiting.reason}: {waiting.message or ''}",
                "The runtime cannot create or start the container: a command missing from the image, a bad mount "
                "or securityContext; read the message.", "service-not-starting", observed=waiting.reason,
                problem="start_error", decisive_line=line, **common)  # fmt: skip
        else:
            add(WARN, f"{label} waiting: {waiting.reason}" + (f": {waiting.message}" if waiting.message else ""),
                waiting.message or "", "service-not-starting", observed=waiting.reason, problem="waiting",
                **common)  # fmt: skip

    # Events ---------------------------------------------------------------------------

    def events(self, session: Session, window: Window) -> list[Finding]:
        """Events of the pods and of what makes them: the Deployment, its ReplicaSets, the target's Jobs.

        A controller that cannot create a pod (a quota, an admission webhook) leaves no pod behind:
        its FailedCreate event is the only trace, so it is a finding of its own.
        """
        names = {p.metadata.name for p in session.pods()}
        prefixes = []
        if session.deployment:
            names.add(session.deployment)
            prefixes.append(session.deployment + "-")
        try:
            jobs = session.jobs()
        except ApiException:
            jobs = []  # the jobs check reports what it may not read
        for job in jobs:
            names.add(job.metadata.name)
            prefixes.append(job.metadata.name + "-")
        events = [
            e
            for e in session.events()
            if e.involved_object
            and (e.involved_object.name in names or any(e.involved_object.name.startswith(p) for p in prefixes))
        ]
        query = f"kubectl get events -n {session.namespace} --sort-by=.lastTimestamp"
        session.last_query = query
        events.sort(
            key=lambda e: (e.type != "Warning", -(_event_time(e) or datetime.min.replace(tzinfo=UTC)).timestamp())
        )
        rows = []
        groups: dict[str, int] = {}
        for e in events[: self.config.events_shown]:
            group = next((g for g, reasons in EVENT_GROUPS.items() if e.reason in reasons), "other")
            if e.type == "Warning":
                groups[group] = groups.get(group, 0) + (e.count or 1)
            rows.append([e.type, group, e.reason, f"{e.involved_object.kind}/{e.involved_object.name}", e.count or 1,
                         _when(_event_time(e)), e.message or ""])  # fmt: skip
        warning_events = [e for e in events if e.type == "Warning"]
        table = Table(columns=["type", "group", "reason", "object", "count", "last seen", "message"], rows=rows)
        if not warning_events:
            return [
                self.ok(
                    "events",
                    f"No warning events ({len(events)} normal)",
                    subject=session.selector,
                    evidence=Evidence(
                        query=query,
                        observed=0,
                        threshold=0,
                        unit="warnings",
                        table=table,
                        data={"deciding": None, "groups": {}},
                    ),  # fmt: skip
                )
            ]
        # Newest first already: the first of the most telling reason decides.
        deciding = min(
            warning_events,
            key=lambda e: DECIDING_REASONS.index(e.reason) if e.reason in DECIDING_REASONS else len(DECIDING_REASONS),
        )
        about = f"{deciding.involved_object.kind}/{deciding.involved_object.name}"
        summary_groups = ", ".join(f"{group} {count}" for group, count in sorted(groups.items(), key=lambda kv: -kv[1]))
        findings = [
            self.finding(
                "events",
                WARN,
                f"{len(warning_events)} warning events: {summary_groups}; deciding: {deciding.reason} on {about}: "
                f"{deciding.message or ''}",
                subject=session.selector,
                evidence=Evidence(
                    query=query,
                    observed=len(warning_events),
                    threshold=0,
                    unit="warnings",
                    table=table,
                    data={
                        "deciding": {
                            "reason": deciding.reason,
                            "object": about,
                            "message": deciding.message or "",
                            "count": deciding.count or 1,
                        },
                        "groups": groups,
                    },  # fmt: skip
                ),
                remediation="Warnings are listed newest first, grouped; the pod findings explain the ones that matter.",
            )
        ]
        findings.extend(self._failed_creates(session, warning_events))
        return findings

    def _failed_creates(self, session: Session, warning_events: list) -> list[Finding]:
        newest: dict[str, object] = {}
        for e in warning_events:  # newest first
            if e.reason == "FailedCreate" and e.involved_object.kind != "Pod":
                newest.setdefault(f"{e.involved_object.kind}/{e.involved_object.name}", e)
        findings = []
        for about, e in newest.items():
            cause = messages.parse_failed_create(e.message or "")
            because = {
                "quota": f"the ResourceQuota {cause['quota']} is exhausted",
                "limit_range": "a LimitRange refuses its resources",
                "admission": "an admission webhook refused it",
                "service_account": "its ServiceAccount is missing",
                "security": "Pod Security refuses its securityContext",
            }.get(cause["cause"], "the API server refused the pod")
            findings.append(
                self.finding(
                    "failed_create",
                    CRIT,
                    f"{about} cannot create pods: {because}: {e.message or ''}",
                    subject=about,
                    evidence=Evidence(
                        query=f"kubectl describe {about.lower()} -n {session.namespace}",
                        observed=e.count or 1,
                        threshold=0,
                        unit="events",
                        data={"object": about, "reason": e.reason, "message": e.message or "", **cause},
                    ),
                    remediation={
                        "quota": f"kubectl describe resourcequota {cause['quota']} -n {session.namespace}: raise it, "
                        "free it (scale something down) or lower the pods' requests/limits.",
                        "limit_range": "Bring the pod's requests and limits within the namespace's LimitRange.",
                        "admission": "Read the webhook's reason; fix the spec or the policy.",
                        "service_account": "Create the ServiceAccount or fix serviceAccountName.",
                        "security": "Fix the securityContext to meet the namespace's Pod Security level.",
                    }.get(cause["cause"], "Read the message: the pod spec was refused by the API server."),
                    runbook="service-not-starting",
                )
            )
        return findings

    # Logs -----------------------------------------------------------------------------

    def logs(self, session: Session, window: Window) -> list[Finding]:
        """Recent logs of every pod of the target, init containers too: current, and previous after a restart.

        Bounded: troubled pods first, at most ``log_pods`` pods and ``log_containers`` reads of at most
        ``log_tail_lines`` lines / ``log_limit_bytes`` bytes each. A container still waiting to start has
        no log yet (the API answers 400 "waiting to start: PodInitializing"): that is not an error.
        """
        pods = sorted(session.pods(), key=lambda p: (not _troubled(p), p.metadata.name))
        tail, limit = self.config.log_tail_lines, self.config.log_limit_bytes
        findings: list[Finding] = []
        clean_lines = clean_containers = 0
        skipped = max(0, len(pods) - self.config.log_pods)
        read_pods = set()
        for pod in pods[: self.config.log_pods]:
            statuses = [(s, True) for s in pod.status.init_container_statuses or []]
            statuses += [(s, False) for s in pod.status.container_statuses or []]
            for status, init in statuses:
                state = status.state
                reads = []
                if state and (state.running or state.terminated):
                    reads.append(False)
                if (status.restart_count or 0) > 0 or (status.last_state and status.last_state.terminated):
                    reads.append(True)
                for previous in reads:
                    if session.log_reads >= self.config.log_containers and (pod.metadata.name, status.name,
                                                                            previous) not in session._logs:  # fmt: skip
                        skipped += 1
                        continue
                    text = session.log(pod.metadata.name, status.name, previous=previous, tail=tail, limit_bytes=limit)
                    if text is None:
                        continue
                    read_pods.add(pod.metadata.name)
                    query = f"kubectl logs {pod.metadata.name} -c {status.name} -n {session.namespace} --tail={tail}"
                    if previous:
                        query += " --previous"
                    analysis = logs.analyze(text.splitlines())
                    if not analysis.error_lines and not analysis.patterns:
                        clean_lines += analysis.lines
                        clean_containers += 1
                        continue
                    source = f"{pod.metadata.name}/{status.name}"
                    for finding in logs.findings_from_logs(
                        analysis, source=source, check_prefix=self.check_id("logs"),
                        data={"pod": pod.metadata.name, "container": status.name, "previous": previous, "init": init},
                    ):  # fmt: skip
                        finding.evidence.query = query
                        findings.append(finding)
        if not findings:
            bounded = f"; {skipped} more not read (bounds)" if skipped else ""
            findings.append(
                self.ok(
                    "logs.error_groups",
                    f"No error lines in {clean_lines} lines of {clean_containers} container logs "
                    f"({len(read_pods)} pods){bounded}",
                    subject=session.selector,
                    evidence=Evidence(
                        query=f"kubectl logs -n {session.namespace} -l {session.selector} --tail={tail}",
                        observed=0,
                        threshold=0,
                        unit="lines",
                        data={
                            "containers": clean_containers,
                            "pods": len(read_pods),
                            "lines": clean_lines,
                            "skipped": skipped,
                            "decisive_line": "",
                        },  # fmt: skip
                    ),
                )
            )
        return findings

    # Top ------------------------------------------------------------------------------

    def top(self, session: Session, window: Window) -> list[Finding]:
        query = f"kubectl top pods -n {session.namespace} -l {session.selector}"
        session.last_query = query
        try:
            metrics = session.custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", session.namespace, "pods", label_selector=session.selector,
                _request_timeout=session.timeout,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status in (404, 503):
                return [
                    self.no_data(
                        "top",
                        "No data: the metrics API (metrics-server) is not available in this cluster",
                        subject=session.selector,
                        evidence=Evidence(query=query),
                        remediation="Install metrics-server for `kubectl top`, or rely on the Prometheus findings.",
                    )
                ]
            raise
        specs = {
            (p.metadata.name, c.name): c.resources for p in session.pods() for c in p.spec.containers
        }  # fmt: skip
        rows, findings = [], []
        for item in metrics.get("items", []):
            pod = item["metadata"]["name"]
            labels = item["metadata"].get("labels") or {}
            if labels and not all(labels.get(k) == v for k, v in session.labels.items()):
                continue
            for usage in item.get("containers", []):
                cpu = quantity(usage["usage"].get("cpu"))
                memory = quantity(usage["usage"].get("memory"))
                resources = specs.get((pod, usage["name"]))
                limits = (resources.limits or {}) if resources else {}
                requests_ = (resources.requests or {}) if resources else {}
                cpu_limit, mem_limit = quantity(limits.get("cpu")), quantity(limits.get("memory"))
                cpu_request = quantity(requests_.get("cpu"))
                rows.append([pod, usage["name"], _millicores(cpu or 0), requests_.get("cpu", ""), limits.get("cpu", ""),
                             _mib(memory or 0), limits.get("memory", "")])  # fmt: skip
                for label, used, limit, fmt in (
                    ("CPU", cpu, cpu_limit, _millicores),
                    ("memory", memory, mem_limit, _mib),
                ):
                    if used is None or not limit:
                        continue
                    share = used / limit
                    status = grade(share, warn=self.config.usage_warn, crit=self.config.usage_crit)
                    if status != OK:
                        findings.append(
                            self.finding(
                                "top",
                                status,
                                f"{pod}/{usage['name']} uses {fmt(used)} {label} of its {fmt(limit)} limit "
                                f"({share:.0%})",
                                subject=f"{pod}/{usage['name']}",
                                evidence=Evidence(
                                    query=query,
                                    observed=round(share, 4),
                                    threshold=crossed(status, warn=self.config.usage_warn, crit=self.config.usage_crit),
                                    unit="ratio",
                                ),  # fmt: skip
                                remediation=(
                                    "Scale out (kubectl scale deployment) or raise the CPU limit; profile the hot path."
                                    if label == "CPU"
                                    else "Raise the memory limit or find what holds memory; at the limit it is "
                                    "OOMKilled."
                                ),
                                runbook="high-cpu" if label == "CPU" else "memory-leak",
                            )
                        )
                over_request = self.config.cpu_over_request_warn
                if cpu is not None and cpu_request and not cpu_limit and cpu / cpu_request >= over_request:
                    findings.append(
                        self.finding(
                            "top",
                            WARN,
                            f"{pod}/{usage['name']} uses {_millicores(cpu)} CPU, "
                            f"{cpu / cpu_request:.1f}× its {_millicores(cpu_request)} request",
                            subject=f"{pod}/{usage['name']}",
                            evidence=Evidence(
                                query=query,
                                observed=round(cpu / cpu_request, 2),
                                threshold=over_request,
                                unit="× request",
                            ),  # fmt: skip
                            remediation="Raise the request to what it uses, or scale out.",
                            runbook="high-cpu",
                        )
                    )
        table = Table(
            columns=["pod", "container", "cpu", "cpu request", "cpu limit", "memory", "memory limit"], rows=rows
        )
        if not rows:
            return [
                self.no_data(
                    "top",
                    "No data: the metrics API has no usage for these pods yet",
                    subject=session.selector,
                    evidence=Evidence(query=query),
                )
            ]
        for finding in findings:
            finding.evidence.table = table
        return findings or [
            self.ok(
                "top",
                f"CPU and memory below {self.config.usage_warn:.0%} of their limits in {len(rows)} containers",
                subject=session.selector,
                evidence=Evidence(query=query, observed=len(rows), unit="containers", table=table),
            )
        ]

    # Deployment -------------------------------------------------------------------------

    def deployment(self, session: Session, window: Window) -> list[Finding]:
        if not session.deployment:
            return [
                self.no_data(
                    "deployment",
                    "No data: the target names no deployment",
                    subject=session.selector,
                    evidence=Evidence(query=""),
                )
            ]
        name = session.deployment
        query = f"kubectl get deployment {name} -n {session.namespace}"
        session.last_query = query
        deployment = session.apps.read_namespaced_deployment(name, session.namespace, _request_timeout=session.timeout)
        desired = deployment.spec.replicas if deployment.spec.replicas is not None else 1
        ready = deployment.status.ready_replicas or 0
        available = deployment.status.available_replicas or 0
        updated = deployment.status.updated_replicas or 0
        conditions = {c.type: c for c in deployment.status.conditions or []}
        progressing = conditions.get("Progressing")
        findings = []
        table = Table(columns=["desired", "updated", "ready", "available"], rows=[[desired, updated, ready, available]])
        if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            status, summary = (
                CRIT,
                f"Rollout of {name} is stuck: {progressing.message or 'progress deadline exceeded'}",
            )
        elif desired and available == 0:
            status, summary = CRIT, f"{name}: 0 of {desired} replicas available"
        elif available < desired:
            status, summary = WARN, f"{name}: {available} of {desired} replicas available ({ready} ready)"
        else:
            status, summary = OK, f"{name}: {available} of {desired} replicas available"
        findings.append(
            self.finding(
                "deployment",
                status,
                summary,
                subject=name,
                evidence=Evidence(query=query, observed=available, threshold=desired, unit="replicas", table=table),
                remediation="See the pod findings for why replicas are not available; "
                "`kubectl rollout undo` returns to the previous version.",
                runbook="service-not-starting",
            )
        )
        findings.extend(self._recent_changes(session, deployment, window))
        return findings

    def _recent_changes(self, session: Session, deployment, window: Window) -> list[Finding]:
        selector = ",".join(f"{k}={v}" for k, v in sorted((deployment.spec.selector.match_labels or {}).items()))
        session.last_query = f"kubectl get replicasets -n {session.namespace} -l {selector}"
        sets = session.apps.list_namespaced_replica_set(
            session.namespace, label_selector=selector, _request_timeout=session.timeout
        ).items
        owned = [
            rs for rs in sets
            if any(ref.kind == "Deployment" and ref.name == deployment.metadata.name
                   for ref in rs.metadata.owner_references or [])
        ]  # fmt: skip
        owned.sort(key=lambda rs: rs.metadata.creation_timestamp)
        since = window.start - timedelta(seconds=self.config.recent_change_before_seconds)
        recent = [rs for rs in owned if rs.metadata.creation_timestamp and rs.metadata.creation_timestamp >= since]
        if not recent:
            return []
        newest = recent[-1]
        previous = owned[-2] if len(owned) >= 2 else None

        def images(rs):
            return ", ".join(c.image for c in rs.spec.template.spec.containers)

        created = _when(newest.metadata.creation_timestamp)
        change = f"new ReplicaSet {newest.metadata.name} at {created} with {images(newest)}"
        if previous is not None and previous is not newest:
            change += f" (was {images(previous)})"
        rows = [[rs.metadata.name, _when(rs.metadata.creation_timestamp), images(rs), rs.status.replicas or 0]
                for rs in owned[-5:]]  # fmt: skip
        return [
            self.finding(
                "deployment.recent_change",
                WARN,
                f"Changed just before the incident: {change}",
                subject=deployment.metadata.name,
                evidence=Evidence(
                    query=f"kubectl rollout history deployment/{deployment.metadata.name} -n {session.namespace}",
                    observed=_when(newest.metadata.creation_timestamp),
                    table=Table(columns=["replicaset", "created", "images", "replicas"], rows=rows),
                ),
                remediation=f"If the change caused it: kubectl rollout undo deployment/{deployment.metadata.name} "
                f"-n {session.namespace}",
            )
        ]

    # HPA --------------------------------------------------------------------------------

    def hpa(self, session: Session, window: Window) -> list[Finding]:
        query = f"kubectl get hpa -n {session.namespace}"
        session.last_query = query
        items = session.autoscaling.list_namespaced_horizontal_pod_autoscaler(
            session.namespace, _request_timeout=session.timeout
        ).items
        mine = [h for h in items if h.spec.scale_target_ref and h.spec.scale_target_ref.name == session.deployment]
        if not mine:
            return [
                self.no_data(
                    "hpa",
                    f"No data: no HorizontalPodAutoscaler targets {session.deployment or 'this workload'}",
                    subject=session.deployment or session.selector,
                    evidence=Evidence(query=query),
                )
            ]
        findings = []
        for h in mine:
            current = h.status.current_replicas or 0
            desired = h.status.desired_replicas or 0
            low, high = h.spec.min_replicas or 1, h.spec.max_replicas
            conditions = {c.type: c for c in h.status.conditions or []}
            limited = conditions.get("ScalingLimited")
            active = conditions.get("ScalingActive")
            table = Table(
                columns=["hpa", "min", "max", "current", "desired"],
                rows=[[h.metadata.name, low, high, current, desired]],
            )
            if current >= high or (limited is not None and limited.status == "True" and desired >= high):
                status, summary = WARN, f"{h.metadata.name} at its maximum: {current} of max {high} replicas"
                remediation = (
                    "Raise maxReplicas if the cluster and the database can take more pods (check connections)."
                )
            else:
                status, summary = OK, f"{h.metadata.name}: {current} replicas (min {low}, max {high})"
                remediation = ""
            findings.append(
                self.finding(
                    "hpa",
                    status,
                    summary,
                    subject=h.metadata.name,
                    evidence=Evidence(
                        query=query,
                        observed=current,
                        threshold=high,
                        unit="replicas",
                        table=table,
                        data={"hpa": h.metadata.name, "current": current, "desired": desired, "min": low, "max": high},
                    ),  # fmt: skip
                    remediation=remediation,
                    runbook="high-cpu",
                )
            )
            findings.extend(self._hpa_metrics(session, h, active))
        return findings

    def _hpa_metrics(self, session: Session, h, active) -> list[Finding]:
        """The autoscaler cannot compute its metrics: ScalingActive False, or its metric events say so."""
        name = h.metadata.name
        failing = [
            e for e in session.events_for({name})
            if e.type == "Warning" and e.involved_object.kind == "HorizontalPodAutoscaler"
            and e.reason in ("FailedGetResourceMetric", "FailedComputeMetricsReplicas", "FailedGetPodsMetric",
                             "FailedGetObjectMetric", "FailedGetExternalMetric", "FailedGetContainerResourceMetric")
        ]  # fmt: skip
        failing.sort(key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))
        if active is not None and active.status == "False":
            reason, message = active.reason or "", active.message or ""
        elif failing:
            reason, message = failing[-1].reason, failing[-1].message or ""
        else:
            return []
        cause = messages.parse_hpa_metrics(message)
        why = {
            "missing_request": f"a container sets no {cause['metric'] or 'resource'} request, so utilisation "
            "cannot be computed",
            "metrics_api_unavailable": "the metrics API is not available (metrics-server or the adapter)",
            "no_metrics": "the metrics API returns no metrics for the pods",
            "invalid_metric": "the metric is invalid",
        }.get(cause["cause"], "it cannot read its metrics")
        return [
            self.finding(
                "hpa.metrics",
                WARN,
                f"{name} cannot compute its metrics: {why}; {reason}: {message}",
                subject=name,
                evidence=Evidence(
                    query=f"kubectl describe hpa {name} -n {session.namespace}",
                    observed=reason,
                    data={"hpa": name, "reason": reason, "message": message, **cause},
                ),
                remediation={
                    "missing_request": "Set resources.requests for that resource on every container of the pods "
                    "(sidecars too); utilisation is usage / request.",
                    "metrics_api_unavailable": "kubectl get apiservice v1beta1.metrics.k8s.io; install or repair "
                    "metrics-server (or the custom metrics adapter).",
                    "no_metrics": "Check metrics-server reaches the kubelets (its log), and that the pods are running.",
                }.get(cause["cause"], "Read the condition's message: `kubectl describe hpa`."),
                runbook="high-cpu",
            )
        ]

    # Endpoints ------------------------------------------------------------------------

    def endpoints(self, session: Session, window: Window) -> list[Finding]:
        query = f"kubectl get services,endpoints -n {session.namespace}"
        session.last_query = query
        services = session.core.list_namespaced_service(session.namespace, _request_timeout=session.timeout).items
        try:
            pod_labels = [p.metadata.labels or {} for p in session.pods()]
        except ApiException:
            pod_labels = []
        # Without pods, judge by the target's selector: what the pods would carry.
        candidates = pod_labels or [session.labels]

        def selects(selector: dict, labels: dict) -> bool:
            return all(labels.get(k) == v for k, v in selector.items())

        mine = [s for s in services if s.spec.selector and any(selects(s.spec.selector, c) for c in candidates)]
        findings = [
            self._selects_no_pods(session, s, pod_labels)
            for s in services
            if s.spec.selector and s not in mine and pod_labels and self._meant_for_target(session, s, pod_labels)
        ]
        if not mine and not findings:
            return [
                self.no_data(
                    "endpoints",
                    f"No data: no Service selects {session.selector}",
                    subject=session.selector,
                    evidence=Evidence(query=query),
                )
            ]
        for service in mine:
            name = service.metadata.name
            endpoints = session.core.read_namespaced_endpoints(
                name, session.namespace, _request_timeout=session.timeout
            )
            ready = sum(len(subset.addresses or []) for subset in endpoints.subsets or [])
            not_ready = sum(len(subset.not_ready_addresses or []) for subset in endpoints.subsets or [])
            if ready == 0:
                findings.append(
                    self.finding(
                        "endpoints",
                        CRIT,
                        f"Service {name} has no ready endpoints ({not_ready} not ready): its traffic goes nowhere",
                        subject=name,
                        evidence=Evidence(
                            query=f"kubectl get endpoints {name} -n {session.namespace}",
                            observed=0,
                            threshold=1,
                            unit="endpoints",
                            data={"service": name, "ready": 0, "not_ready": not_ready},
                        ),  # fmt: skip
                        remediation="No pod behind the Service passes its readiness probe; see the pod findings.",
                        runbook="service-not-starting",
                    )
                )
            else:
                findings.append(
                    self.ok(
                        "endpoints",
                        f"Service {name} has {ready} ready endpoints ({not_ready} not ready)",
                        subject=name,
                        evidence=Evidence(
                            query=f"kubectl get endpoints {name} -n {session.namespace}",
                            observed=ready,
                            threshold=1,
                            unit="endpoints",
                            data={"service": name, "ready": ready, "not_ready": not_ready},
                        ),  # fmt: skip
                    )
                )
        return findings

    @staticmethod
    def _meant_for_target(session: Session, service, pod_labels: list[dict]) -> bool:
        """A Service that names the target, or asks for some of its pods' labels (but not all of them)."""
        name = service.metadata.name
        names = {session.deployment, *session.labels.values()} - {""}
        if name in names:
            return True
        terms = set(service.spec.selector.items())
        return any(terms & set(labels.items()) for labels in pod_labels)

    def _selects_no_pods(self, session: Session, service, pod_labels: list[dict]) -> Finding:
        selector = dict(service.spec.selector)
        # The pods' labels closest to what the Service asks for: the difference is the smallest.
        closest = max(pod_labels, key=lambda labels: sum(labels.get(k) == v for k, v in selector.items()))
        missing = sorted(k for k in selector if k not in closest)
        mismatched = {k: {"service": v, "pods": closest[k]} for k, v in selector.items() if k in closest
                      and closest[k] != v}  # fmt: skip
        differences = [
            f"{k}={v} (the pods have {k}={closest[k]})" for k, v in sorted(selector.items()) if k in mismatched
        ] + [f"{k}={selector[k]} (the pods have no {k} label)" for k in missing]
        name = service.metadata.name
        shown = {k: v for k, v in closest.items() if k != "pod-template-hash"}
        return self.finding(
            "service_selector",
            CRIT,
            f"Service {name} selects none of the target's pods, so it has no endpoints: it asks for "
            + "; ".join(differences),
            subject=name,
            evidence=Evidence(
                query=f"kubectl get service {name} -n {session.namespace} -o jsonpath='{{.spec.selector}}'; "
                f"kubectl get pods -n {session.namespace} -l {session.selector} --show-labels",
                observed=0,
                threshold=1,
                unit="pods selected",
                table=Table(
                    columns=["label", "service asks", "pods have"],
                    rows=[[k, v, closest.get(k, "")] for k, v in sorted(selector.items())],
                ),  # fmt: skip
                data={
                    "service": name,
                    "selector": selector,
                    "pod_labels": shown,
                    "missing": missing,
                    "mismatched": mismatched,
                },  # fmt: skip
            ),
            remediation=f"Make the Service's selector match the pod template's labels (kubectl edit service {name}), "
            "or fix the labels in the Deployment's pod template.",
            runbook="service-not-starting",
        )

    # Jobs -------------------------------------------------------------------------------

    def jobs(self, session: Session, window: Window) -> list[Finding]:
        """The target's Jobs (a migration, a batch step): a failed one is a failure even with no pod left."""
        jobs = session.jobs()
        query = f"kubectl get jobs -n {session.namespace}"
        if not jobs:
            return [
                self.no_data(
                    "jobs",
                    "No data: no Job belongs to this target",
                    subject=session.selector,
                    evidence=Evidence(query=query),
                )
            ]
        findings = []
        rows = []
        for job in jobs:
            status = job.status
            conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"}
            failed, succeeded = status.failed or 0, status.succeeded or 0
            limit = job.spec.backoff_limit if job.spec.backoff_limit is not None else 6
            failure = conditions.get("Failed") or conditions.get("FailureTarget")
            state = "failed" if failure else "complete" if "Complete" in conditions else "active"
            rows.append([job.metadata.name, state, succeeded, failed, limit])
            if not failure and not failed:
                continue
            pod, code, line = self._failed_job_pod(session, job.metadata.name)
            name = job.metadata.name
            detail = f"; pod {pod} exited with code {code}{_meaning(code)}" if pod and code is not None else ""
            if line:
                detail += f": {line}"
            data = {"job": name, "reason": failure.reason if failure else "", "message": failure.message or ""
                    if failure else "", "failed": failed, "succeeded": succeeded, "pod": pod, "exit_code": code,
                    "decisive_line": line}  # fmt: skip
            if failure:
                summary = f"Job {name} failed: {failure.reason}: {failure.message or ''}{detail}"
                status_ = CRIT
            else:
                summary = f"Job {name}: {failed} pods failed so far (backoffLimit {limit}){detail}"
                status_ = WARN
            findings.append(
                self.finding(
                    "jobs",
                    status_,
                    summary,
                    subject=name,
                    evidence=Evidence(
                        query=f"kubectl describe job {name} -n {session.namespace}",
                        observed=failed,
                        threshold=limit,
                        unit="failed pods",
                        data=data,
                    ),  # fmt: skip
                    remediation="Read the failed pod's log (kubectl logs job/" + name + "); fix the cause and "
                    "re-create the Job (a failed Job is not retried).",
                    runbook="service-not-starting",
                )
            )
        table = Table(columns=["job", "state", "succeeded", "failed", "backoff limit"], rows=rows)
        for finding in findings:
            finding.evidence.table = table
        return findings or [
            self.ok(
                "jobs",
                f"{len(jobs)} Jobs, none failed",
                subject=session.selector,
                evidence=Evidence(query=query, observed=0, threshold=0, unit="failed Jobs", table=table),
            )
        ]

    def _failed_job_pod(self, session: Session, job: str) -> tuple[str, int | None, str]:
        """(pod, exit code, decisive log line) of the Job's latest failed pod, as far as it is left."""
        session.last_query = f"kubectl get pods -n {session.namespace} -l job-name={job}"
        pods = session.core.list_namespaced_pod(
            session.namespace, label_selector=f"job-name={job}", _request_timeout=session.timeout
        ).items
        pods.sort(key=lambda p: p.metadata.creation_timestamp or datetime.min.replace(tzinfo=UTC), reverse=True)
        for pod in pods:
            for status in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
                terminated = (status.state.terminated if status.state else None) or (
                    status.last_state.terminated if status.last_state else None
                )
                if terminated and terminated.exit_code:
                    previous = not (status.state and status.state.terminated)
                    line = self._decisive_line(session, pod.metadata.name, status.name, previous=previous)
                    return pod.metadata.name, terminated.exit_code, line or (terminated.message or "").strip()
        return "", None, ""

    # Nodes ------------------------------------------------------------------------------

    def nodes(self, session: Session, window: Window) -> list[Finding]:
        """The nodes that run the target's pods: conditions, and usage against allocatable (`kubectl top nodes`).

        Nodes are cluster-scoped: reading them needs the optional ClusterRole of
        deploy/kubernetes/rbac-nodes.yaml; without it the check says so (no_data), it does not fail.
        """
        hosted: dict[str, list[str]] = {}
        for pod in session.pods():
            if pod.spec.node_name:
                hosted.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
        query = "kubectl get nodes " + " ".join(sorted(hosted))
        session.last_query = query
        blocked = self._pending_on_nodes(session)
        if not hosted and not blocked:
            return [
                self.no_data(
                    "nodes",
                    "No data: no pod of the target runs on a node",
                    subject=session.selector,
                    evidence=Evidence(query=query, data={"reason": "no_nodes"}),
                )
            ]
        findings: list[Finding] = []
        usage_rows = []
        for name in sorted(hosted):
            try:
                node = session.core.read_node(name, _request_timeout=session.timeout)
            except ApiException as exc:
                if exc.status in (403, 404):
                    reason = "forbidden" if exc.status == 403 else "not_found"
                    words = (
                        "the service account may not read nodes (bind the optional ClusterRole in "
                        "deploy/kubernetes/rbac-nodes.yaml)"
                        if exc.status == 403
                        else f"node {name} no longer exists"
                    )
                    findings.append(
                        self.no_data(
                            "nodes",
                            f"No data: {words}",
                            subject=name,
                            evidence=Evidence(query=f"kubectl get node {name}", data={"reason": reason, "node": name}),
                            remediation="kubectl apply -f deploy/kubernetes/rbac-nodes.yaml"
                            if exc.status == 403
                            else "",
                        )
                    )
                    if exc.status == 403:
                        return findings  # the same answer for every node
                    continue
                raise
            findings.append(self._node_conditions(node, hosted[name]))
            usage = self._node_usage(session, node)
            if isinstance(usage, Finding):
                findings.append(usage)
            elif usage is not None:
                usage_rows.append(usage)
        if usage_rows:
            findings.extend(self._node_usage_findings(usage_rows))
        if blocked:
            findings.extend(self._nodes_blocking(session, blocked, set(hosted)))
        return findings

    def _pending_on_nodes(self, session: Session) -> dict[str, list[str]]:
        """Unscheduled pods whose scheduler message blames node state: {condition: pods}.

        A pressure taint (node.kubernetes.io/memory-pressure) names MemoryPressure; a not-ready or
        unreachable taint names NotReady.
        """
        blocked: dict[str, list[str]] = {}
        for pod in session.pods():
            if pod.status.phase != "Pending" or pod.spec.node_name:
                continue
            name = pod.metadata.name
            scheduling = sorted((e for e in session.events_for({name}) if e.reason == "FailedScheduling"),
                                key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))  # fmt: skip
            condition = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
            message = (scheduling[-1].message if scheduling else "") or (condition.message if condition else "")
            parsed = messages.parse_scheduling(message or "")
            if parsed.pressure:
                blocked.setdefault(parsed.pressure, []).append(name)
            if "node_not_ready" in parsed.reasons:
                blocked.setdefault("NotReady", []).append(name)
        return blocked

    def _nodes_blocking(self, session: Session, blocked: dict[str, list[str]], seen: set[str]) -> list[Finding]:
        """The nodes whose condition keeps the target's pending pods off them."""
        session.last_query = "kubectl get nodes"
        try:
            nodes = session.core.list_node(_request_timeout=session.timeout).items
        except ApiException as exc:
            if exc.status != 403:
                raise
            return [
                self.no_data(
                    "nodes",
                    "No data: the service account may not list nodes (bind the optional ClusterRole in "
                    "deploy/kubernetes/rbac-nodes.yaml)",
                    subject=session.selector,
                    evidence=Evidence(query="kubectl get nodes", data={"reason": "forbidden", "node": ""}),
                )
            ]
        findings = []
        for node in nodes:
            conditions = {c.type: c.status for c in node.status.conditions or []}
            pending = sorted(
                {pod for condition, pods in blocked.items() for pod in pods
                 if (conditions.get("Ready") != "True" if condition == "NotReady" else
                     conditions.get(condition) == "True")}
            )  # fmt: skip
            if pending and node.metadata.name not in seen:
                findings.append(self._node_conditions(node, [], pending=pending))
        return findings

    def _node_conditions(self, node, pods: list[str], *, pending: list[str] = ()) -> Finding:
        name = node.metadata.name
        conditions = {c.type: c for c in node.status.conditions or []}
        states = {t: conditions[t].status for t in NODE_CONDITIONS if t in conditions}
        ready = states.get("Ready") == "True"
        pressure = [t for t in NODE_CONDITIONS[1:] if states.get(t) == "True"]
        rows = [[c.type, c.status, c.reason or "", c.message or "", _when(c.last_transition_time)]
                for c in node.status.conditions or []]  # fmt: skip
        data = {"node": name, "conditions": states, "pressure": pressure, "ready": ready, "pods": sorted(pods),
                "pending_pods": sorted(pending),
                "unschedulable": bool(node.spec.unschedulable) if node.spec else False}  # fmt: skip
        evidence = Evidence(
            query=f"kubectl describe node {name}",
            observed=", ".join(pressure) or ("Ready" if ready else "NotReady"),
            table=Table(columns=["condition", "status", "reason", "message", "since"], rows=rows),
            data=data,
        )
        if pending:
            hosts = f"; it keeps {len(pending)} pending pods of the target off it ({', '.join(sorted(pending)[:5])})"
        else:
            hosts = f"; it runs {len(pods)} of the target's pods ({', '.join(sorted(pods)[:5])})"
        if not ready:
            why = conditions["Ready"].message if "Ready" in conditions else "no Ready condition reported"
            return self.finding(
                "nodes", CRIT, f"Node {name} is NotReady ({states.get('Ready', 'Unknown')}): {why}{hosts}",
                subject=name, evidence=evidence,
                remediation="Pods on a NotReady node stop being served and are evicted after the toleration "
                "period: check the kubelet and the node (kubectl describe node).",
            )  # fmt: skip
        if pressure:
            messages_ = "; ".join(conditions[t].message or t for t in pressure)
            return self.finding(
                "nodes", CRIT if "MemoryPressure" in pressure else WARN,
                f"Node {name} is under {', '.join(pressure)}: {messages_}{hosts}",
                subject=name, evidence=evidence,
                remediation="Under pressure the kubelet evicts pods (BestEffort first, then those over their "
                "requests): free the resource, set requests to real usage, or move pods to other nodes.",
                runbook="memory-leak" if "MemoryPressure" in pressure else None,
            )  # fmt: skip
        return self.ok("nodes", f"Node {name} is Ready, no pressure{hosts}", subject=name, evidence=evidence)

    def _node_usage(self, session: Session, node):
        """(node, cpu, cpu allocatable, memory, memory allocatable) from metrics.k8s.io, or a no_data finding."""
        name = node.metadata.name
        query = f"kubectl top node {name}"
        try:
            metrics = session.custom.get_cluster_custom_object(
                "metrics.k8s.io", "v1beta1", "nodes", name, _request_timeout=session.timeout
            )
        except ApiException as exc:
            if exc.status not in (403, 404, 503):
                raise
            reason = {403: "forbidden", 503: "metrics_unavailable"}.get(exc.status, "")
            if exc.status == 404:
                reason = "no_metrics" if "nodemetrics" in str(exc.body or "") else "metrics_unavailable"
            words = {
                "forbidden": "the service account may not read node metrics (deploy/kubernetes/rbac-nodes.yaml)",
                "metrics_unavailable": "the metrics API (metrics-server) is not available in this cluster",
                "no_metrics": f"the metrics API has no usage for node {name} yet",
            }[reason]
            return self.no_data(
                "nodes.usage", f"No data: {words}", subject=name,
                evidence=Evidence(query=query, data={"reason": reason, "node": name}),
            )  # fmt: skip
        allocatable = node.status.allocatable or {}
        usage = metrics.get("usage", {})
        return (name, quantity(usage.get("cpu")), quantity(allocatable.get("cpu")), quantity(usage.get("memory")),
                quantity(allocatable.get("memory")))  # fmt: skip

    def _node_usage_findings(self, rows: list[tuple]) -> list[Finding]:
        table = Table(
            columns=["node", "cpu", "cpu allocatable", "cpu %", "memory", "memory allocatable", "memory %"],
            rows=[[n, _millicores(c or 0), _millicores(ca or 0), f"{(c or 0) / ca:.0%}" if ca else "",
                   _mib(m or 0), _mib(ma or 0), f"{(m or 0) / ma:.0%}" if ma else ""]
                  for n, c, ca, m, ma in rows],
        )  # fmt: skip
        findings = []
        for name, cpu, cpu_alloc, memory, memory_alloc in rows:
            cpu_ratio = cpu / cpu_alloc if cpu is not None and cpu_alloc else None
            memory_ratio = memory / memory_alloc if memory is not None and memory_alloc else None
            worst = max((r for r in (cpu_ratio, memory_ratio) if r is not None), default=None)
            if worst is None:
                continue
            status = grade(worst, warn=self.config.usage_warn, crit=self.config.usage_crit)
            parts = []
            if cpu_ratio is not None:
                parts.append(f"CPU {_millicores(cpu)} of {_millicores(cpu_alloc)} ({cpu_ratio:.0%})")
            if memory_ratio is not None:
                parts.append(f"memory {_mib(memory)} of {_mib(memory_alloc)} ({memory_ratio:.0%})")
            findings.append(
                self.finding(
                    "nodes.usage",
                    status,
                    f"Node {name} uses " + ", ".join(parts) + " of its allocatable",
                    subject=name,
                    evidence=Evidence(
                        query=f"kubectl top node {name}",
                        observed=round(worst, 4),
                        threshold=crossed(status, warn=self.config.usage_warn, crit=self.config.usage_crit),
                        unit="ratio",
                        table=table,
                        data={
                            "node": name,
                            "cpu_ratio": cpu_ratio,
                            "memory_ratio": memory_ratio,
                            "cpu_used": cpu,
                            "cpu_allocatable": cpu_alloc,
                            "memory_used": memory,
                            "memory_allocatable": memory_alloc,
                        },  # fmt: skip
                    ),
                    remediation="A node near its allocatable evicts (memory) or throttles (CPU) the pods on it: "
                    "spread the pods (anti-affinity, topology spread), add nodes, or right-size requests.",
                    runbook="high-cpu" if cpu_ratio == worst else "memory-leak",
                )
            )
        return findings
