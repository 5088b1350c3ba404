"""What the scheduler, the kubelet, the controllers and the autoscaler say, read into facts.

Pure functions over the messages the API server hands out (pod and container
statuses, events, conditions). Each reads the message's own structure — the
scheduler's per-node clauses, the registry's answer inside a pull error, the
admission error inside a FailedCreate — rather than looking for one example
phrase, and says "other" or "ambiguous" when the message does not tell.
"""

import re
from dataclasses import dataclass, field

# Scheduling -------------------------------------------------------------------------------

# "0/5 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: v}. preemption: …"
_SCHEDULER = re.compile(r"^\s*(?P<available>\d+)/(?P<total>\d+) nodes are available:?\s*(?P<rest>.*)$", re.DOTALL)
_CLAUSE_SPLIT = re.compile(r",\s+(?=\d+ )")
_TAINT = re.compile(r"\{(?P<taint>[^}]*)\}")
# Taints the node lifecycle controller and the kubelet put on nodes themselves.
_NODE_TAINTS = {
    "node.kubernetes.io/not-ready": "node_not_ready",
    "node.kubernetes.io/unreachable": "node_not_ready",
    "node.kubernetes.io/unschedulable": "node_unschedulable",
    "node.kubernetes.io/memory-pressure": "MemoryPressure",
    "node.kubernetes.io/disk-pressure": "DiskPressure",
    "node.kubernetes.io/pid-pressure": "PIDPressure",
    "node.kubernetes.io/network-unavailable": "node_not_ready",
}
_BUILTIN_RESOURCES = {"cpu": "cpu", "memory": "memory", "ephemeral-storage": "ephemeral_storage", "pods": "pods"}

# (kind, regex over one clause without its count), most specific first.
_CLAUSES: tuple[tuple[str, re.Pattern], ...] = (
    ("pod_anti_affinity", re.compile(r"anti-affinity", re.I)),
    ("volume_node_affinity", re.compile(r"volume node affinity", re.I)),
    ("pod_affinity", re.compile(r"pod affinity|inter-pod affinity", re.I)),
    ("node_affinity", re.compile(r"node affinity|node selector|node\(s\) didn't match Pod's node", re.I)),
    ("topology_spread", re.compile(r"topology spread", re.I)),
    (
        "volume_unbound",
        re.compile(
            r"unbound (?:immediate )?PersistentVolumeClaims|available persistent volumes to "
            r"bind|waiting for first consumer|max volume count",
            re.I,
        ),
    ),  # fmt: skip
    ("volume_missing", re.compile(r"persistentvolumeclaim \"[^\"]+\" (?:not found|is being deleted)", re.I)),
    ("taint", re.compile(r"taint", re.I)),
    ("node_unschedulable", re.compile(r"were unschedulable|node\(s\) were cordoned", re.I)),
    ("node_not_ready", re.compile(r"not ready|unreachable", re.I)),
    ("ports", re.compile(r"free ports", re.I)),
    ("resource", re.compile(r"^(?:Insufficient|Too many) (?P<resource>\S+)", re.I)),
)


@dataclass
class SchedulingClause:
    count: int
    kind: str
    text: str
    resource: str = ""
    taint: str = ""

    def to_dict(self) -> dict:
        data = {"count": self.count, "kind": self.kind, "text": self.text}
        if self.resource:
            data["resource"] = self.resource
        if self.taint:
            data["taint"] = self.taint
        return data


@dataclass
class Scheduling:
    nodes_available: int | None
    nodes_total: int | None
    clauses: list[SchedulingClause] = field(default_factory=list)
    preemption: str = ""

    @property
    def reasons(self) -> list[str]:
        return list(dict.fromkeys(c.kind for c in self.clauses))

    @property
    def pressure(self) -> str:
        """A node pressure condition named by a taint the pod does not tolerate, if any."""
        return next((_NODE_TAINTS[c.taint] for c in self.clauses if _NODE_TAINTS.get(c.taint, "").endswith("Pressure")),
                    "")  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "nodes_available": self.nodes_available,
            "nodes_total": self.nodes_total,
            "clauses": [c.to_dict() for c in self.clauses],
            "preemption": self.preemption,
            "reasons": self.reasons,
        }

    def describe(self) -> str:
        """ "insufficient cpu (2 nodes), untolerated taint node-role.kubernetes.io/control-plane (1 node)"."""
        if not self.clauses:
            return "no node fits"
        return ", ".join(f"{_clause_words(c)} ({c.count} node{'s' if c.count != 1 else ''})" for c in self.clauses)


def _clause_words(clause: SchedulingClause) -> str:
    if clause.kind in ("cpu", "memory", "ephemeral_storage", "pods"):
        return {"pods": "too many pods"}.get(clause.kind, f"insufficient {clause.resource}")
    if clause.kind == "extended_resource":
        return f"insufficient {clause.resource} (extended resource)"
    if clause.kind == "taint":
        return f"untolerated taint {clause.taint}" if clause.taint else "untolerated taints"
    return {
        "node_affinity": "node affinity/selector matches no node",
        "pod_affinity": "pod affinity rules not met",
        "pod_anti_affinity": "pod anti-affinity rules not met",
        "topology_spread": "topology spread constraints not met",
        "volume_unbound": "PersistentVolumeClaim not bound",
        "volume_node_affinity": "volume node affinity conflict",
        "volume_missing": "PersistentVolumeClaim missing",
        "node_unschedulable": "nodes cordoned (unschedulable)",
        "node_not_ready": "nodes not ready",
        "ports": "host ports taken",
    }.get(clause.kind, clause.text)


def parse_scheduling(message: str) -> Scheduling:
    """Every clause of a FailedScheduling message (or an Unschedulable PodScheduled condition)."""
    text = (message or "").strip()
    main, _, preemption = text.partition(" preemption: ")
    match = _SCHEDULER.match(main)
    if not match:
        clause = _clause(1, main.rstrip(".")) if main else None
        return Scheduling(None, None, [clause] if clause else [], preemption.strip())
    scheduling = Scheduling(int(match["available"]), int(match["total"]), preemption=preemption.strip().rstrip("."))
    for part in _CLAUSE_SPLIT.split(match["rest"].strip().rstrip(".")):
        count, _, body = part.strip().partition(" ")
        if count.isdigit():
            scheduling.clauses.append(_clause(int(count), body.strip()))
        elif part.strip():
            scheduling.clauses.append(_clause(1, part.strip()))
    return scheduling


def _clause(count: int, body: str) -> SchedulingClause:
    for kind, regex in _CLAUSES:
        match = regex.search(body)
        if not match:
            continue
        if kind == "taint":
            taint = _TAINT.search(body)
            key = taint["taint"].split(":", 1)[0].strip() if taint else ""
            node_kind = _NODE_TAINTS.get(key, "")
            if node_kind in ("node_not_ready", "node_unschedulable"):
                return SchedulingClause(count, node_kind, body, taint=key)
            return SchedulingClause(count, "taint", body, taint=key)
        if kind == "resource":
            resource = match["resource"].rstrip(".,")
            return SchedulingClause(count, _BUILTIN_RESOURCES.get(resource, "extended_resource"), body,
                                    resource=resource)  # fmt: skip
        return SchedulingClause(count, kind, body)
    return SchedulingClause(count, "other", body)


# Image pulls ------------------------------------------------------------------------------

# The registry's answer, as containerd / CRI-O / dockershim relay it; the first that matches decides.
_PULL: tuple[tuple[str, re.Pattern], ...] = (
    # Docker Hub and others answer "denied" for a private and for a missing repository alike, and a
    # registry refusing an anonymous token cannot say whether the repository exists.
    (
        "ambiguous",
        re.compile(
            r"repository does not exist or may require|requested access to the resource is denied|"
            r"insufficient_scope|pull access denied|anonymous token",
            re.I,
        ),
    ),  # fmt: skip
    (
        "unauthorized",
        re.compile(
            r"\b401\b|unauthorized|authentication required|no basic auth credentials|"
            r"\b403\b|forbidden|failed to authorize|invalid username/password",
            re.I,
        ),
    ),  # fmt: skip
    (
        "not_found",
        re.compile(
            r"code = NotFound|: not found\b|manifest unknown|name unknown|not found: manifest|"
            r"\b404\b|does not exist|no such image",
            re.I,
        ),
    ),  # fmt: skip
    ("invalid", re.compile(r"invalid reference format|couldn't parse image reference|InvalidImageName", re.I)),
    (
        "unreachable",
        re.compile(
            r"i/o timeout|deadline exceeded|connection refused|no such host|TLS handshake timeout|"
            r"network is unreachable|dial tcp|server misbehaving|EOF\b",
            re.I,
        ),
    ),  # fmt: skip
    ("tls", re.compile(r"x509|certificate", re.I)),
)
PULL_WORDS = {
    "not_found": ("image or tag missing", "Check the image name and tag in the deployment; was the image pushed?"),
    "unauthorized": ("not authorised", "Check imagePullSecrets and the registry credentials for this namespace."),
    "ambiguous": (
        "missing or not authorised (the registry does not say which)",
        "The registry answers the same for a missing and a private repository: check the image name and tag "
        "exist, and the imagePullSecrets for this namespace.",
    ),
    "invalid": ("invalid image reference", "Fix the image reference (lowercase repository, one tag or digest)."),
    "unreachable": (
        "registry unreachable",
        "Check the node's network path and DNS to the registry, and registry status.",
    ),
    "tls": ("registry certificate not trusted", "Check the registry's certificate and the nodes' trusted CAs."),
    "unknown": ("pull failed", "Read the message below and `kubectl describe pod` for the pull error."),
}


def classify_image_pull(message: str) -> str:
    """not_found | unauthorized | ambiguous | invalid | unreachable | tls | unknown, from the registry's answer."""
    for kind, regex in _PULL:
        if regex.search(message or ""):
            return kind
    return "unknown"


# Container configuration ------------------------------------------------------------------

_MISSING = (
    (re.compile(r"couldn't find key (?P<key>\S+) in (?P<kind>ConfigMap|Secret) (?:[\w.-]+/)?(?P<name>[\w.-]+)"), "key"),
    (re.compile(r"(?P<kind>configmap|secret)s? \"(?P<name>[^\"]+)\" not found", re.I), None),
)


def parse_config_error(message: str) -> dict:
    """What a CreateContainerConfigError lacks: {kind: configmap|secret|key|other, name, key, of}."""
    for regex, kind in _MISSING:
        match = regex.search(message or "")
        if match:
            of = match["kind"].lower()
            return {"kind": kind or of, "name": match["name"], "key": match.groupdict().get("key") or "", "of": of}
    return {"kind": "other", "name": "", "key": "", "of": ""}


# Controllers that could not create pods -------------------------------------------------

_QUOTA = re.compile(r"(?:exceeded|failed) quota: (?P<name>[\w.-]+)")


def parse_failed_create(message: str) -> dict:
    """Why a ReplicaSet / Job / StatefulSet could not create a pod: {cause, quota}."""
    text = message or ""
    quota = _QUOTA.search(text)
    if quota:
        return {"cause": "quota", "quota": quota["name"]}
    lowered = text.lower()
    if "serviceaccount" in lowered or "service account" in lowered:
        cause = "service_account"
    elif "podsecurity" in lowered or "securitycontext" in lowered or "pod security" in lowered:
        cause = "security"
    elif re.search(r"maximum \w+ usage per|minimum \w+ usage per|limitrange", lowered):
        cause = "limit_range"
    elif "admission webhook" in lowered or "failed calling webhook" in lowered or "denied the request" in lowered:
        cause = "admission"
    else:
        cause = "other"
    return {"cause": cause, "quota": ""}


# Autoscaler metrics ----------------------------------------------------------------------

_HPA_METRIC = re.compile(r"(?:failed to get|unable to get metrics?(?: for resource)?)\s+(?P<metric>[\w./-]+)")


def parse_hpa_metrics(message: str) -> dict:
    """Why an HPA cannot compute its metrics: {cause, metric}."""
    text = message or ""
    lowered = text.lower()
    metric = ""
    request = re.search(r"missing request for (?P<metric>\w[\w./-]*)", text)
    if request:
        return {"cause": "missing_request", "metric": request["metric"]}
    found = _HPA_METRIC.search(text)
    if found:
        metric = found["metric"].removesuffix(":")
    if (
        "could not find the requested resource" in lowered
        or "is not available" in lowered
        or (
            "unable to fetch metrics from" in lowered
            and "no metrics" not in lowered
            and "could not find the metric" not in lowered
        )
    ):
        cause = "metrics_api_unavailable"
    elif "no metrics returned" in lowered or "could not find the metric" in lowered or "did not receive metrics" \
            in lowered:  # fmt: skip
        cause = "no_metrics"
    elif "invalid metrics" in lowered or "invalid metric" in lowered:
        cause = "invalid_metric"
    else:
        cause = "other"
    return {"cause": cause, "metric": metric}


# Exit codes ---------------------------------------------------------------------------------

_SIGNALS = {1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}


def exit_meaning(code: int | None) -> str:
    """What a container's exit code says by convention (the shell's and the runtime's)."""
    if code is None or code == 0:
        return ""
    if code == 126:
        return "command not executable"
    if code == 127:
        return "command not found"
    if code == 128:
        return "the runtime could not start the command"
    if 128 < code < 160:
        signal = _SIGNALS.get(code - 128, f"signal {code - 128}")
        return f"killed by {signal}" + (" (the OOM killer or a liveness kill)" if code == 137 else "")
    return "the application exited with an error"


# Probes -------------------------------------------------------------------------------------

_PROBE = re.compile(r"^(?P<kind>Readiness|Liveness|Startup) probe (?:failed|errored)", re.I)
_PROBE_URL = re.compile(r"(?:Get|Head) \"?(?P<url>https?://[^\s\"]+)")
_PROBE_STATUS = re.compile(r"statuscode: (?P<status>\d{3})")


def parse_probe(message: str) -> dict:
    """A kubelet probe event: {kind, cause, status, url}.

    cause: ``status`` (answered with a failing HTTP status), ``refused`` (nothing listens on the port),
    ``timeout`` (no answer in time), ``exec`` (the command exited non-zero), ``other``.
    """
    text = message or ""
    kind = _PROBE.match(text)
    status = _PROBE_STATUS.search(text)
    url = _PROBE_URL.search(text)
    lowered = text.lower()
    if status:
        cause = "status"
    elif "connection refused" in lowered:
        cause = "refused"
    elif "deadline exceeded" in lowered or "timeout" in lowered or "timed out" in lowered:
        cause = "timeout"
    elif "command" in lowered or "exec" in lowered or "oci runtime" in lowered:
        cause = "exec"
    else:
        cause = "other"
    return {
        "kind": kind["kind"].lower() if kind else "",
        "cause": cause,
        "status": int(status["status"]) if status else None,
        "url": url["url"] if url else "",
    }
