"""Kubernetes collector: what `kubectl get pods / describe / logs / get events / top / get hpa` would show.

One ApiClient per target, built from its kubeconfig and context or from the
in-cluster service account; never the process-global configuration. Every
call has a timeout. Pods are listed by the target's label selector, and the
labels of what comes back are checked again before anything is concluded.
It only reads: the writes a mitigation makes are in ``diagnostics/actions/``.
"""

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

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
    log_tail_lines: int = 500  # read from each troubled container
    log_containers: int = 10  # troubled containers whose logs are read, at most
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
}


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


def classify_image_pull(message: str) -> tuple[str, str]:
    """Why an image does not pull: (kind, advice)."""
    text = (message or "").lower()
    if any(s in text for s in ("unauthorized", "authentication required", "denied", "403 forbidden", "no basic auth")):
        return "not authorised", "Check imagePullSecrets and the registry credentials for this namespace."
    if any(s in text for s in ("not found", "manifest unknown", "does not exist", "name unknown")):
        return "image or tag missing", "Check the image name and tag in the deployment; was the image pushed?"
    if any(s in text for s in ("timeout", "deadline exceeded", "i/o timeout", "connection refused", "no such host")):
        return "registry unreachable", "Check the node's network path and DNS to the registry, and registry status."
    return "pull failed", "Read the message below and `kubectl describe pod` for the pull error."


def classify_unschedulable(message: str) -> str:
    text = (message or "").lower()
    reasons = []
    if "insufficient cpu" in text:
        reasons.append("insufficient CPU")
    if "insufficient memory" in text:
        reasons.append("insufficient memory")
    if "taint" in text:
        reasons.append("untolerated node taints")
    if "persistentvolumeclaim" in text or "volume node affinity" in text:
        reasons.append("volume (PVC) cannot be bound or reached")
    if "didn't match pod's node affinity" in text or "node selector" in text:
        reasons.append("node affinity / selector matches no node")
    return ", ".join(reasons) or "no node fits"


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
    custom: k8s.CustomObjectsApi
    namespace: str
    selector: str
    labels: dict[str, str]
    deployment: str
    timeout: tuple[float, float]
    last_query: str = ""
    _pods: list | None = None
    _events: list | None = None
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


def _event_time(event):
    return event.last_timestamp or event.event_time or event.first_timestamp or event.metadata.creation_timestamp


class KubernetesCollector(Collector):
    kind = "kubernetes"
    config_class = KubernetesConfig
    config: KubernetesConfig
    checks = ("pods", "events", "logs", "top", "deployment", "hpa", "endpoints")
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
                    evidence=Evidence(query=query, observed=0, threshold=1, unit="pods"),
                    remediation="Check the deployment exists and its selector; a workload scaled to zero serves "
                    "nothing.",
                    runbook="service-not-starting",
                )
            ]
        findings = []
        rows = []
        for pod in pods:
            rows.append(self._pod_row(pod))
            findings.extend(self._pod_trouble(session, pod, query))
        table = Table(columns=["pod", "phase", "ready", "restarts", "node", "reason"], rows=rows)
        if not findings:
            restarts = sum(row[3] for row in rows)
            findings.append(
                self.ok(
                    "pods",
                    f"All {len(pods)} pods running and ready ({restarts} restarts)",
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
        for s in statuses:
            if s.state and s.state.waiting and s.state.waiting.reason:
                reason = s.state.waiting.reason
        return [pod.metadata.name, pod.status.phase, f"{ready}/{len(pod.spec.containers)}", restarts,
                pod.spec.node_name or "", reason]  # fmt: skip

    def _pod_trouble(self, session: Session, pod, query: str) -> list[Finding]:
        name = pod.metadata.name
        found = []

        def add(status, summary, remediation, runbook=None, observed=None, extra=None):
            found.append(
                self.finding(
                    "pods",
                    status,
                    summary,
                    subject=name,
                    evidence=Evidence(
                        query=f"kubectl describe pod {name} -n {session.namespace}", observed=observed, table=extra
                    ),  # fmt: skip
                    remediation=remediation,
                    runbook=runbook,
                )
            )

        if pod.status.reason == "Evicted":
            add(WARN, f"{name} was evicted: {pod.status.message or 'node pressure'}",
                "Evicted pods point at node pressure (memory, disk); check node conditions and requests.",
                observed="Evicted")  # fmt: skip
            return found
        if pod.status.phase == "Pending" and not any(
            (
                s.state
                and s.state.waiting
                and s.state.waiting.reason not in (None, "ContainerCreating", "PodInitializing")
            )
            for s in pod.status.container_statuses or []
        ):
            scheduling = [e for e in session.events_for({name}) if e.reason == "FailedScheduling"]
            message = scheduling[-1].message if scheduling else ""
            unscheduled = next(
                (c for c in pod.status.conditions or [] if c.type == "PodScheduled" and c.status == "False"), None
            )
            if scheduling or unscheduled:
                message = message or (unscheduled.message if unscheduled else "")
                add(CRIT, f"{name} is Pending, unschedulable: {classify_unschedulable(message)}",
                    "Free or add capacity, lower the pod's requests, add tolerations, or fix the volume claim; "
                    f"scheduler: {message[:300]}",
                    "service-not-starting", observed="Pending")  # fmt: skip
            else:
                add(WARN, f"{name} is Pending", "Check `kubectl describe pod` for what it waits on.",
                    "service-not-starting", observed="Pending")  # fmt: skip
            return found

        for status in pod.status.container_statuses or []:
            container = status.name
            waiting = status.state.waiting if status.state else None
            last = status.last_state.terminated if status.last_state else None
            restarts = status.restart_count or 0
            if waiting and waiting.reason == "CrashLoopBackOff":
                detail = f"last exit {last.reason} (code {last.exit_code})" if last else "no previous exit recorded"
                add(CRIT, f"{name}/{container} in CrashLoopBackOff after {restarts} restarts; {detail}",
                    "Read the previous container's log (the log findings) for why it exits; check config and "
                    "dependencies it needs at start.",
                    "service-not-starting", observed=restarts)  # fmt: skip
                if last and last.reason == "OOMKilled":
                    add(CRIT, f"{name}/{container} was OOMKilled (exit {last.exit_code})",
                        "The container hit its memory limit: raise the limit or find the leak (memory trend).",
                        "memory-leak", observed="OOMKilled")  # fmt: skip
            elif waiting and waiting.reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
                kind, advice = classify_image_pull(waiting.message or "")
                image = next((c.image for c in pod.spec.containers if c.name == container), status.image)
                add(CRIT, f"{name}/{container} cannot pull {image}: {kind}",
                    f"{advice} Registry said: {(waiting.message or '')[:300]}",
                    "service-not-starting", observed=waiting.reason)  # fmt: skip
            elif waiting and waiting.reason in (
                "CreateContainerConfigError",
                "CreateContainerError",
                "RunContainerError",
            ):
                add(CRIT, f"{name}/{container}: {waiting.reason}: {(waiting.message or '')[:200]}",
                    "A referenced Secret or ConfigMap (or key) is missing or the command is wrong; check the spec.",
                    "service-not-starting", observed=waiting.reason)  # fmt: skip
            elif waiting and waiting.reason and waiting.reason not in ("ContainerCreating", "PodInitializing"):
                add(WARN, f"{name}/{container} waiting: {waiting.reason}",
                    f"{(waiting.message or '')[:300]}", "service-not-starting", observed=waiting.reason)  # fmt: skip
            elif last and last.reason == "OOMKilled":
                add(CRIT, f"{name}/{container} was OOMKilled (exit {last.exit_code}) and restarted {restarts} times",
                    "The container hit its memory limit: raise the limit or find the leak (memory trend).",
                    "memory-leak", observed="OOMKilled")  # fmt: skip
            elif restarts >= self.config.restarts_warn:
                detail = f"; last exit {last.reason} (code {last.exit_code})" if last else ""
                add(WARN, f"{name}/{container} restarted {restarts} times{detail}",
                    "Read the previous container's log for the cause of the restarts.", observed=restarts)  # fmt: skip
            elif pod.status.phase == "Running" and not status.ready:
                probe = [e for e in session.events_for({name}) if e.reason == "Unhealthy"]
                why = probe[-1].message if probe else "not ready"
                add(WARN, f"{name}/{container} is running but not ready: {why[:200]}",
                    "The readiness probe fails: check the probe's path and port and what the app needs to be ready.",
                    observed="NotReady")  # fmt: skip
        return found

    # Events ---------------------------------------------------------------------------

    def events(self, session: Session, window: Window) -> Finding:
        names = {p.metadata.name for p in session.pods()}
        if session.deployment:
            names.add(session.deployment)
        prefix = session.deployment + "-" if session.deployment else None
        events = [
            e
            for e in session.events()
            if e.involved_object
            and (e.involved_object.name in names or (prefix and e.involved_object.name.startswith(prefix)))
        ]
        query = f"kubectl get events -n {session.namespace} --sort-by=.lastTimestamp"
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
                         _when(_event_time(e)), (e.message or "")[:300]])  # fmt: skip
        warnings = sum(1 for e in events if e.type == "Warning")
        table = Table(columns=["type", "group", "reason", "object", "count", "last seen", "message"], rows=rows)
        if not warnings:
            return self.ok(
                "events",
                f"No warning events ({len(events)} normal)",
                subject=session.selector,
                evidence=Evidence(query=query, observed=0, threshold=0, unit="warnings", table=table),
            )
        summary_groups = ", ".join(f"{group} {count}" for group, count in sorted(groups.items(), key=lambda kv: -kv[1]))
        return self.finding(
            "events",
            WARN,
            f"{warnings} warning events: {summary_groups}; latest: {rows[0][2]} — {rows[0][6][:120]}",
            subject=session.selector,
            evidence=Evidence(query=query, observed=warnings, threshold=0, unit="warnings", table=table),
            remediation="Warnings are listed newest first, grouped; the pod findings explain the ones that matter.",
        )

    # Logs -----------------------------------------------------------------------------

    def logs(self, session: Session, window: Window) -> list[Finding]:
        troubled = []
        for pod in session.pods():
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                restarted = (status.restart_count or 0) > 0
                if restarted or not status.ready or (waiting and waiting.reason):
                    if waiting and waiting.reason in ("ImagePullBackOff", "ErrImagePull", "ContainerCreating"):
                        continue  # never started: no log to read
                    troubled.append((pod.metadata.name, status.name, restarted))
        if not troubled:
            return [
                self.ok(
                    "logs.error_groups",
                    "No troubled container: no logs needed",
                    subject=session.selector,
                    evidence=Evidence(query="kubectl logs (not needed)", observed=0, unit="containers"),
                )
            ]
        findings = []
        tail = self.config.log_tail_lines
        for pod_name, container, previous in troubled[: self.config.log_containers]:
            query = f"kubectl logs {pod_name} -c {container} -n {session.namespace} --tail={tail}"
            if previous:
                query += " --previous"
            session.last_query = query
            try:
                text = session.core.read_namespaced_pod_log(
                    pod_name, session.namespace, container=container, previous=previous, tail_lines=tail,
                    _request_timeout=session.timeout,
                )  # fmt: skip
            except ApiException as exc:
                if exc.status == 400 and previous:  # no previous container yet
                    continue
                raise
            analysis = logs.analyze(text.splitlines())
            for finding in logs.findings_from_logs(
                analysis, source=f"{pod_name}/{container}", check_prefix=self.check_id("logs")
            ):
                finding.evidence.query = query
                findings.append(finding)
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
            if active is not None and active.status == "False":
                status, summary = (
                    WARN,
                    f"{h.metadata.name} cannot scale: {active.reason}: {(active.message or '')[:200]}",
                )
                remediation = "The autoscaler lacks metrics: check metrics-server or the custom metrics adapter."
            elif current >= high or (limited is not None and limited.status == "True" and desired >= high):
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
                    evidence=Evidence(query=query, observed=current, threshold=high, unit="replicas", table=table),
                    remediation=remediation,
                    runbook="high-cpu",
                )
            )
        return findings

    # Endpoints ------------------------------------------------------------------------

    def endpoints(self, session: Session, window: Window) -> list[Finding]:
        query = f"kubectl get services,endpoints -n {session.namespace}"
        session.last_query = query
        services = session.core.list_namespaced_service(session.namespace, _request_timeout=session.timeout).items
        mine = [
            s for s in services
            if s.spec.selector and all(session.labels.get(k) == v for k, v in s.spec.selector.items())
        ]  # fmt: skip
        if not mine:
            return [
                self.no_data(
                    "endpoints",
                    f"No data: no Service selects {session.selector}",
                    subject=session.selector,
                    evidence=Evidence(query=query),
                )
            ]
        findings = []
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
                        ),  # fmt: skip
                    )
                )
        return findings
