"""The rules: one small pure function per failure mechanism, listed in ``RULES``.

Each rule reads ``Facts`` (the incident's findings) and returns zero or more
``Hypothesis``. Confidence is built from the mechanism: the decisive signal
gives the base, each independent signal the mechanism predicts adds to it,
and a reading the mechanism cannot coexist with takes away from it. The title
carries the decisive fact (the pod, the variable, the host, the number).

Add a rule: write the function, add a ``Rule`` row, and unit tests that it
fires on its evidence and stays silent on its near-misses.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from diagnostics.analysis.facts import Facts, FindingRef, distinct, parse_time, pattern_id, worst

MAX_CONFIDENCE = 0.97


@dataclass
class Hypothesis:
    key: str
    title: str
    confidence: float
    summary: str
    evidence: list[FindingRef]
    confirm: str
    refute: str
    runbook: str | None
    rank: int = 0

    @property
    def severity(self) -> str:
        return worst(self.evidence)

    @property
    def latest(self):
        return max((f.at for f in self.evidence if f.at), default=None)

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "key": self.key,
            "title": self.title,
            "confidence": round(self.confidence, 2),
            "summary": self.summary,
            "evidence": _links(self.evidence),
            "confirm": self.confirm,
            "refute": self.refute,
            "runbook": self.runbook,
        }


def _links(findings: list[FindingRef]) -> list[dict]:
    return [f.link for f in distinct(findings)]


def _clamp(value: float) -> float:
    return max(0.0, min(MAX_CONFIDENCE, value))


def _pct(value: float) -> str:
    return f"{value:.0f} %" if value >= 10 else f"{value:.1f} %"


def _ratio_pct(value: float) -> str:
    return _pct(value * 100)


def _first_line(text: str, limit: int = 160) -> str:
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _pod_of(f: FindingRef) -> str:
    pod = f.datum("pod")
    if pod:
        container = f.datum("container")
        return f"{pod}/{container}" if container else pod
    return f.subject


def _exit_code(f: FindingRef) -> int | None:
    code = f.data.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    match = re.search(r"\b(?:code|exit)\s+(-?\d+)\b", f.summary)
    return int(match.group(1)) if match else None


def _error_rise(facts: Facts) -> list[FindingRef]:
    return facts.troubled("prometheus.error_rate")


def _latency_rise(facts: Facts) -> list[FindingRef]:
    return facts.troubled("prometheus.latency")


def _dominant_db_traces(facts: Facts) -> list[FindingRef]:
    return [f for f in facts.troubled("tracing.slow_trace_breakdown") if f.datum("dominant") == "db"]


# -- connection pool exhausted ---------------------------------------------------------------

POOL_PATTERNS = ("prisma_p2024", "python_pool_timeout", "sequelize_pool_timeout", "too_many_clients")
POOL_NAMES = {
    "prisma_p2024": "P2024 pool timeouts",
    "python_pool_timeout": "pool timeouts",
    "sequelize_pool_timeout": "Sequelize acquire timeouts",
    "too_many_clients": "'too many clients' refusals",
}
SATURATION_REFUTES_BELOW = 50.0  # percent of usable connections: a pool that is this empty is not exhausted


def pool_exhausted(facts: Facts) -> list[Hypothesis]:
    saturation = [f for f in facts.checks("postgres.connection_saturation") if f.number() is not None]
    fullest = max(saturation, key=lambda f: f.number(), default=None)
    patterns = facts.log_patterns(*POOL_PATTERNS)
    full = fullest is not None and fullest.troubled
    if not full and not patterns:
        return []
    confidence, evidence, parts = 0.0, [], []
    if fullest is not None:
        percent = fullest.number()
        in_use, usable = fullest.range("in_use"), fullest.range("usable")
        where = f" on {fullest.subject}" if fullest.subject else ""
        counts = f" ({in_use} of {usable} usable)" if in_use is not None and usable else ""
        parts.append(f"{_pct(percent)} of connections in use{counts}{where}")
        evidence.append(fullest)
        if fullest.status == "crit":
            confidence += 0.45
        elif fullest.status == "warn":
            confidence += 0.3
        elif percent < SATURATION_REFUTES_BELOW:
            confidence -= 0.15
    if patterns:
        confidence += 0.35 + (0.05 if len({f.subject for f in patterns}) > 1 else 0.0)
        evidence += patterns
        kinds = sorted({pattern_id(f.check) for f in patterns})
        lines = sum(int(f.number() or 0) for f in patterns)
        parts.append(f"{' and '.join(POOL_NAMES[k] for k in kinds)} in the logs ({lines} lines)")
    errors = _error_rise(facts)
    if errors:
        confidence += 0.15
        evidence += errors
        parts.append(f"5xx ratio up to {_ratio_pct(errors[0].number() or 0)}")
    latency = _latency_rise(facts)
    if latency:
        confidence += 0.05
        evidence += latency
    if fullest is None:
        confidence -= 0.05  # the database was not inspected: the pool may be the app's own, or too small
    return [
        Hypothesis(
            key="pool_exhausted",
            title="Connection pool exhausted: " + "; ".join(parts[:2]),
            confidence=_clamp(confidence),
            summary=(
                "Requests wait for a database connection that never comes free: every connection of the pool (or "
                "every slot of max_connections) is taken, so callers time out and the service answers 5xx. "
                + "Evidence: "
                + "; ".join(parts)
                + "."
            ),
            evidence=evidence,
            confirm="pg_stat_activity shows the application's connections at the limit (many 'active' or 'idle in "
            "transaction'), and the pool-timeout errors stop when connections are freed or the pool is resized.",
            refute="Connections well below max_connections while the errors happen, and no pool-timeout or "
            "'too many clients' lines in the logs.",
            runbook="db-connection-pool-exhausted",
        )
    ]


# -- slow queries driving latency -----------------------------------------------------------


def slow_queries(facts: Facts) -> list[Hypothesis]:
    db = facts.troubled("postgres.long_running_queries", "postgres.blocked_queries", "postgres.slow_queries")
    db += facts.log_patterns("prisma_p1002")
    traces = _dominant_db_traces(facts)
    if not db and not traces:
        return []
    ranked = sorted(db, key=lambda f: (f.status != "crit", f.check))
    confidence = 0.0
    if ranked:
        confidence += 0.35 if ranked[0].status == "crit" else 0.25
        confidence += 0.05 * (len({f.check for f in db}) - 1)
    evidence = list(ranked)
    lead = ranked[0].summary if ranked else ""
    if traces:
        share = traces[0].data.get("shares", {})
        db_share = share.get("db") if isinstance(share, dict) else None
        confidence += 0.2
        evidence += traces
        statement = traces[0].datum("statement")
        trace_fact = "slow traces spend most time in the database" + (
            f" ({_ratio_pct(db_share)})" if isinstance(db_share, int | float) else ""
        )
        lead = lead or (trace_fact + (f": {_first_line(statement, 80)}" if statement else ""))
    latency = _latency_rise(facts)
    title_tail = ""
    if latency:
        confidence += 0.3
        evidence += latency
        ratio = latency[0].number("ratio")
        title_tail = f"; P95 {ratio:.1f}× its baseline" if ratio else "; P95 latency up"
    elif facts.checks("prometheus.latency", statuses=("ok",)):
        confidence -= 0.15  # latency measured and normal: the slow statements do not drive this incident
    return [
        Hypothesis(
            key="slow_queries",
            title=f"Slow queries driving latency: {_first_line(lead, 110)}{title_tail}",
            confidence=_clamp(confidence),
            summary="Statements run long or wait on locks, so each request holds its connection longer and "
            "response time rises with them (and, under load, the pool fills). "
            + "; ".join(_first_line(f.summary, 140) for f in evidence[:3])
            + ".",
            evidence=evidence,
            confirm="EXPLAIN (ANALYZE, BUFFERS) of the costliest statement shows a sequential scan or lock wait, "
            "and P95 falls when it is cancelled or indexed.",
            refute="No statement above the slow thresholds in pg_stat_activity / pg_stat_statements while P95 is "
            "high, or traces that spend their time outside the database.",
            runbook="slow-queries",
        )
    ]


# -- memory leak ------------------------------------------------------------------------------

OOM_PATTERNS = ("oom_killed", "java_oom", "node_heap_oom")


def memory_leak(facts: Facts) -> list[Hypothesis]:
    leaks = facts.troubled("prometheus.memory_leak")
    ooms = facts.pods("oom_killed") + [
        f for f in facts.pods("crash_loop") if re.search(r"OOMKilled", f.text()) or _exit_code(f) == 137
    ]
    ooms += facts.log_patterns(*OOM_PATTERNS)
    if not leaks and not ooms:
        return []
    near = facts.troubled("prometheus.memory_vs_limit") + [
        f for f in facts.troubled("kubernetes.top") if " memory of its" in f.summary
    ]
    confidence, evidence = 0.0, []
    leak = max(leaks, key=lambda f: (f.status == "crit", f.number() or 0), default=None)
    if leak is not None:
        confidence += 0.5 if leak.status == "crit" else 0.35
        evidence += leaks
    if ooms:
        confidence += 0.3 if leak else 0.35
        evidence += ooms
    if near:
        confidence += 0.1
        evidence += near
    flat = facts.checks("prometheus.memory_leak", statuses=("ok",))
    if leak is None and flat:
        confidence -= 0.15  # OOM kills with a flat memory floor: a limit too low for the load, not a leak
    oom_pods = sorted({_pod_of(f).split("/")[0] for f in ooms if "/" in _pod_of(f) or f.check == "kubernetes.pods"})
    if leak is not None:
        title = f"Memory leak in {leak.subject}: {_first_line(leak.summary, 120)}"
        if ooms:
            title += f"; OOMKilled ({len(oom_pods) or 1} pod{'s' if len(oom_pods) > 1 else ''})"
    else:
        who = oom_pods[0] if oom_pods else _pod_of(ooms[0])
        title = f"Out of memory: {who} killed at its memory limit" + (
            " (memory floor flat: limit too low rather than a leak)" if flat else ""
        )
    return [
        Hypothesis(
            key="memory_leak",
            title=title,
            confidence=_clamp(confidence),
            summary="Memory that survives garbage collection keeps growing until the container reaches its limit "
            "and is OOM-killed; restarts bring it back to the floor and the climb starts again.",
            evidence=evidence,
            confirm="The memory floor (min over 10 min) rises steadily across restarts, and the OOMKilled times "
            "match the moments it reaches the limit.",
            refute="A flat memory floor with OOM kills only under load spikes (the limit is too low, not a leak), "
            "or no OOMKilled exit at all.",
            runbook="memory-leak",
        )
    ]


# -- CPU saturation ---------------------------------------------------------------------------


def _at_max(f: FindingRef) -> bool:
    current, most = f.data.get("current"), f.data.get("max")
    return isinstance(current, int) and isinstance(most, int) and current >= most


def cpu_saturation(facts: Facts) -> list[Hypothesis]:
    saturated = facts.troubled("prometheus.cpu_saturation")
    throttled = facts.troubled("prometheus.cpu_throttling")
    top = [f for f in facts.troubled("kubernetes.top") if " CPU" in f.summary]
    if not saturated and not throttled and not top:
        return []
    signals = saturated + throttled + top
    lead = sorted(signals, key=lambda f: (f.status != "crit", -(f.number() or 0)))[0]
    confidence = 0.45 if lead.status == "crit" else 0.3
    if throttled and (saturated or top):
        confidence += 0.1
    evidence = list(signals)
    parts = [f"{lead.subject}: {_first_line(lead.summary, 90)}"]
    hpa = [f for f in facts.troubled("kubernetes.hpa") if "maximum" in f.summary or _at_max(f)]
    if hpa:
        confidence += 0.15
        evidence += hpa
        parts.append(_first_line(hpa[0].summary, 80))
    latency = _latency_rise(facts)
    if latency:
        confidence += 0.2
        evidence += latency
    if not saturated and facts.checks("prometheus.cpu_saturation", statuses=("ok",)) and not top:
        confidence -= 0.1
    return [
        Hypothesis(
            key="cpu_saturation",
            title="CPU saturation: " + "; ".join(parts),
            confidence=_clamp(confidence),
            summary="The pods use (or are throttled at) their whole CPU allowance, so requests queue for CPU time "
            "and latency rises; with the autoscaler at its maximum no new pods come to help.",
            evidence=evidence,
            confirm="CPU usage at the limit and CFS throttling during the latency rise; latency falls after "
            "scaling out or raising the limit.",
            refute="CPU well below its limits with no throttling while latency is high.",
            runbook="high-cpu",
        )
    ]


# -- bad deploy --------------------------------------------------------------------------------

DEPLOY_LEAD = timedelta(hours=2)  # a rollout this long before the first errors can be their cause


def bad_deploy(facts: Facts) -> list[Hypothesis]:
    changes = facts.ever("kubernetes.deployment.recent_change", statuses=("warn", "crit", "ok"))
    changes = [f for f in changes if f.troubled]
    if not changes:
        return []
    change = changes[0]
    changed_at = parse_time(change.observed)
    match = re.search(r"new ReplicaSet (\S+) at [^w]*with (.+?)(?: \(was (.+)\))?$", change.summary)
    replicaset, image, previous = (match.group(1), match.group(2), match.group(3)) if match else ("", "", None)
    what = f"{image} (was {previous})" if previous else image or _first_line(change.summary, 100)
    confidence = 0.2
    evidence = [change]
    timing = ""
    errors = _error_rise(facts)
    started = parse_time(errors[0].range("started")) if errors else None
    if errors:
        evidence += errors
        if changed_at and started:
            lead = started - changed_at
            if timedelta(0) <= lead <= DEPLOY_LEAD:
                confidence += 0.4
                timing = f", {_minutes(lead)} before the first errors"
            elif lead < timedelta(0):
                # The errors began before the rollout: it cannot have caused them (no support from the errors).
                confidence += 0.0
                timing = f", {_minutes(-lead)} after the errors began"
            else:
                confidence += 0.1
        else:
            confidence += 0.25
    broken = facts.pods("crash_loop", "config_error", "image_pull", "restarts", "exited")
    if broken:
        confidence += 0.3
        evidence += broken
        if not timing:
            timing = f"; its pods fail ({_first_line(broken[0].summary, 80)})"
    stuck = [f for f in facts.troubled("kubernetes.deployment") if "stuck" in f.summary]
    if stuck:
        confidence += 0.15
        evidence += stuck
    name = change.subject or "the deployment"
    return [
        Hypothesis(
            key="bad_deploy",
            title=f"Bad deploy of {name}: {what}{timing}",
            confidence=_clamp(confidence),
            summary=f"A new version rolled out just before the trouble ({replicaset or 'a new ReplicaSet'}); a "
            "change that precedes the first errors or restarts is the first suspect.",
            evidence=evidence,
            confirm=f"The errors or restarts come only from pods of {replicaset or 'the new ReplicaSet'}, and "
            f"`kubectl rollout undo deployment/{name}` makes them stop.",
            refute="The errors began before the rollout, or pods of the previous ReplicaSet fail the same way.",
            runbook="bad-deploy-rollback",
        )
    ]


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


# -- crash at startup ---------------------------------------------------------------------------

# Log patterns that name why a process cannot start, most decisive first.
STARTUP_PATTERNS = (
    "missing_env",
    "module_not_found",
    "file_not_found",
    "exec_not_found",
    "permission_denied",
    "go_panic",
    "python_traceback",
    "java_exception",
    "errno",
    "exit_line",
    "failure_phrase",
)
STARTUP_LINE = re.compile(
    r"KeyError|not set|is required|missing|ModuleNotFoundError|Cannot find module|No such file|ENOENT|"
    r"not found|Permission denied|EACCES|panic:|Error:|Exception|fatal",
    re.IGNORECASE,
)


def decisive_line(facts: Facts, pod: str, finding: FindingRef | None = None) -> str:
    """The log line that says why ``pod`` stops: from the finding itself, its log patterns, or its error groups."""
    if finding is not None and finding.datum("decisive_line"):
        return finding.datum("decisive_line")
    logs = facts.logs_of(pod)
    by_pattern = {pattern_id(f.check): f for f in logs if pattern_id(f.check)}
    for pid in STARTUP_PATTERNS:
        f = by_pattern.get(pid)
        if f is not None:
            rows = f.table_rows()
            return f.datum("sample") or str(rows[0].get("sample") if rows else "") or f.summary
    for f in logs:
        if f.check.endswith("error_groups"):
            if f.datum("decisive_line"):
                return f.datum("decisive_line")
            rows = f.table_rows()
            telling = [str(r.get("message") or "") for r in rows if STARTUP_LINE.search(str(r.get("message") or ""))]
            if telling or rows:
                return (telling or [str(rows[0].get("message") or "")])[0]
    return ""


def crash_at_startup(facts: Facts) -> list[Hypothesis]:
    crashes = [
        f for f in facts.pods("crash_loop", "exited") if not re.search(r"OOMKilled", f.text()) and _exit_code(f) != 137
    ]
    crashes += [f for f in facts.ever("kubernetes.pods.init", "kubernetes.jobs") if f.status == "crit"]
    if not crashes:
        return []
    hypotheses = []
    seen = set()
    for crash in crashes:
        who = _pod_of(crash) or crash.datum("job")
        pod = crash.datum("pod") or who.split("/")[0]
        if who in seen:
            continue
        seen.add(who)
        line = decisive_line(facts, pod, crash)
        code = _exit_code(crash)
        kind = {"kubernetes.pods.init": "init container ", "kubernetes.jobs": "Job "}.get(crash.check, "")
        title = f"{kind}{who} crashes at startup" + (f" (exit {code})" if code is not None else "")
        if line:
            title += f": {_first_line(line, 140)}"
        evidence = [crash] + facts.logs_of(pod)[:3]
        confidence = 0.6 + (0.2 if line else 0.0) + (0.05 if crash.status == "crit" else 0.0)
        hypotheses.append(
            Hypothesis(
                key="crash_at_startup",
                title=title,
                confidence=_clamp(confidence),
                summary="The container exits soon after it starts and Kubernetes restarts it with growing back-off; "
                "the last lines of the previous container's log say why"
                + (f": {_first_line(line, 200)}" if line else " (no telling line was found in the logs read)")
                + ".",
                evidence=evidence,
                confirm=f"`kubectl logs {pod} --previous` ends with the same error on every restart, and fixing "
                "what it names (a variable, a file, a module, a permission) lets the pod become ready.",
                refute="The previous container's log ends cleanly (exit 0) or the restarts are OOM kills or liveness "
                "probe kills instead.",
                runbook="service-not-starting",
            )
        )
        if len(hypotheses) >= 3:
            break
    return hypotheses


# -- missing dependency -------------------------------------------------------------------------

DEPENDENCY_PATTERNS = {
    "econnrefused": "connection refused",
    "dns": "name does not resolve",
    "etimedout": "connection timed out",
    "ehostunreach": "host unreachable",
    "prisma_p1001": "database server unreachable (P1001)",
    "sequelize_connection": "database connection failed",
}
DECISIVE_DEPENDENCY = ("econnrefused", "dns", "ehostunreach", "prisma_p1001", "sequelize_connection")


def _host(f: FindingRef) -> str:
    host = f.datum("host") or f.subject
    if "/" in host:  # the log's source (pod/container): no host was named
        return ""
    return host


def missing_dependency(facts: Facts) -> list[Hypothesis]:
    hits = facts.log_patterns(*DEPENDENCY_PATTERNS)
    probes = [
        f
        for f in facts.checks("http.probe", statuses=("crit",))
        if f.datum("step") in ("dns", "connect")
        or f.datum("error_code") in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH")
    ]
    if not hits and not probes:
        return []
    by_host: dict[str, list[FindingRef]] = {}
    for f in hits:
        by_host.setdefault(_host(f), []).append(f)
    for f in probes:
        by_host.setdefault(_host_of_url(f.datum("url") or f.subject), []).append(f)
    endpoints = {f.datum("service") or f.subject: f for f in facts.checks("kubernetes.endpoints")}
    selectors = {f.datum("service") or f.subject: f for f in facts.troubled("kubernetes.service_selector")}
    errors = _error_rise(facts)
    hypotheses = []
    for host, found in sorted(by_host.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        kinds = [pattern_id(f.check) for f in found if pattern_id(f.check)]
        decisive = any(k in DECISIVE_DEPENDENCY for k in kinds) or any(f.check == "http.probe" for f in found)
        confidence = 0.5 if decisive else 0.3
        evidence = list(found)
        what = DEPENDENCY_PATTERNS.get(kinds[0], "") if kinds else found[0].datum("error_code", "unreachable")
        lines = sum(int(f.number() or 0) for f in found if pattern_id(f.check))
        title = f"Dependency {host or '(host not named in the logs)'} unreachable: {what}"
        if lines:
            title += f" ({lines} log lines)"
        if any(f.check == "http.probe" for f in found):
            confidence += 0.15
        service = host.split(":")[0].split(".")[0] if host else ""
        endpoint = endpoints.get(service)
        selector = selectors.get(service)
        if selector is not None:
            confidence += 0.25
            evidence.append(selector)
            title += f"; Service {service} selects no pods"
        elif endpoint is not None and endpoint.status == "crit":
            confidence += 0.25
            evidence.append(endpoint)
            title += f"; Service {service} has no ready endpoints"
        elif endpoint is not None and endpoint.status == "ok":
            confidence -= 0.1  # its Service has endpoints: a wrong port or a network policy, more than absence
            evidence.append(endpoint)
            title += f"; Service {service} has ready endpoints (check the port)"
        if not host:
            confidence -= 0.1
        if errors:
            confidence += 0.1
            evidence += errors
        hypotheses.append(
            Hypothesis(
                key="missing_dependency",
                title=title,
                confidence=_clamp(confidence),
                summary=f"The service cannot reach {host or 'a dependency'} ({what}): it is down, has no ready "
                "pods behind its Service, is named wrongly (host or namespace), or a network policy blocks it.",
                evidence=evidence,
                confirm=f"From a pod of the service, connecting to {host or 'the dependency'} fails the same way "
                "(`kubectl exec … -- nc -zv host port` or `getent hosts host`), and the errors stop once it is up.",
                refute=f"{host or 'The dependency'} answers from inside the pod, or the errors name other hosts.",
                runbook="dependency-unreachable",
            )
        )
    return hypotheses[:2]


def _host_of_url(url: str) -> str:
    match = re.match(r"^[a-z]+://([^/\s?#]+)", url or "")
    return match.group(1) if match else url


# -- image cannot be pulled -------------------------------------------------------------------

PULL_KINDS = {
    "not_found": "image or tag not found",
    "unauthorized": "registry refused the credentials",
    "unreachable": "registry unreachable",
    "ambiguous": "not found or not authorised (the registry does not say which)",
}


def image_pull(facts: Facts) -> list[Hypothesis]:
    pulls = facts.pods("image_pull")
    pulls += [f for f in facts.ever("kubernetes.pods.init") if f.datum("problem") == "image_pull"]
    if not pulls:
        return []
    f = pulls[0]
    match = re.search(r"cannot pull (\S+): (.+)$", f.summary)
    image = f.datum("image") or (match.group(1) if match else "")
    kind = PULL_KINDS.get(f.datum("pull")) or (match.group(2) if match else "pull failed")
    if f.datum("pull"):
        decided = f.datum("pull") in ("not_found", "unauthorized")
    else:
        decided = bool(re.search(r"missing|not authorised", kind, re.IGNORECASE))
    return [
        Hypothesis(
            key="image_pull",
            title=f"Image cannot be pulled: {image or _pod_of(f)} — {kind}",
            confidence=_clamp(0.85 if decided else 0.7),
            summary=f"{_pod_of(f)} waits in ImagePullBackOff: the node cannot fetch {image or 'its image'} ({kind}), "
            "so no new pod of this version can start.",
            evidence=pulls,
            confirm="`kubectl describe pod` shows the registry's answer (manifest unknown / unauthorized) and "
            "pulling the same reference by hand fails the same way.",
            refute="The same image reference pulls by hand with the namespace's pull secret.",
            runbook="image-pull",
        )
    ]


# -- cannot be scheduled ----------------------------------------------------------------------


def unschedulable(facts: Facts) -> list[Hypothesis]:
    pods = facts.pods("unschedulable")
    refused = facts.troubled("kubernetes.failed_create")
    if not pods and refused:
        f = refused[0]
        quota = f.datum("quota")
        cause = f"ResourceQuota {quota} exceeded" if quota else f.datum("cause", "refused")
        message = _first_line(f.datum("message") or f.summary, 160)
        return [
            Hypothesis(
                key="unschedulable",
                title=f"{f.datum('object') or f.subject} cannot create pods: {cause}",
                confidence=_clamp(0.85 if quota or f.datum("cause") else 0.7),
                summary=f"The controller's pod creation is refused ({message}), so no pod exists to run or to "
                "schedule; the Deployment shows fewer replicas than desired and nothing in the pod list.",
                evidence=refused,
                confirm="`kubectl describe replicaset` (or job) shows FailedCreate with the same message, and pods "
                "appear once the quota, limit range or admission rule allows them.",
                refute="Pods of the current ReplicaSet exist (the refusal was for an old one).",
                runbook="scheduling",
            )
        ]
    if not pods:
        return []
    f = pods[0]
    scheduling = f.data.get("scheduling")
    reason = ""
    if isinstance(scheduling, dict) and isinstance(scheduling.get("clauses"), list):
        texts = [
            str(c.get("text") or c.get("kind") or "")
            for c in scheduling["clauses"]
            if isinstance(c, dict) and c.get("kind") != "other"
        ]
        reason = "; ".join(t for t in texts if t)
    if not reason:
        match = re.search(r"unschedulable: (.+)$", f.summary)
        reason = match.group(1) if match else _first_line(f.datum("message"), 120) or "no node fits"
    return [
        Hypothesis(
            key="unschedulable",
            title=f"{_pod_of(f)} cannot be scheduled: {_first_line(reason, 140)}",
            confidence=_clamp(0.85),
            summary=f"The scheduler finds no node for {len(pods)} pod(s): {reason}. They stay Pending and serve "
            "nothing until capacity, tolerations, affinity or the volume claim allow a placement.",
            evidence=pods + facts.troubled("kubernetes.events")[:1],
            confirm="`kubectl describe pod` shows FailedScheduling with the same clause, and the pod schedules once "
            "that clause is met (capacity added, request lowered, toleration or claim fixed).",
            refute="The pod is scheduled (it has a node) and waits on something else (image, config, volume mount).",
            runbook="scheduling",
        )
    ]


# -- missing ConfigMap / Secret ---------------------------------------------------------------

MISSING_OBJECT = re.compile(r"(configmap|secret)s? \"?([\w.-]+)\"? not found", re.IGNORECASE)
MISSING_KEY = re.compile(r"couldn't find key ([\w.-]+) in (ConfigMap|Secret) ([\w./-]+)", re.IGNORECASE)


def missing_config(facts: Facts) -> list[Hypothesis]:
    errors = facts.pods("config_error")
    errors += [f for f in facts.ever("kubernetes.pods.init") if f.datum("problem") == "config_error"]
    mounts = [
        f
        for f in facts.troubled("kubernetes.events")
        if re.search(r"FailedMount", f.text()) and MISSING_OBJECT.search(f.text())
    ]
    if not errors and not mounts:
        return []
    f = (errors or mounts)[0]
    missing = f.data.get("missing") if isinstance(f.data.get("missing"), dict) else {}
    named = ""
    if missing.get("name"):
        kind = {"configmap": "ConfigMap", "secret": "Secret"}.get(str(missing.get("kind")), str(missing.get("kind")))
        named = f"{kind} {missing['name']}"
        if missing.get("key"):
            named = f"key {missing['key']} of {named}"
    else:
        text = f.text()
        key = MISSING_KEY.search(text)
        obj = MISSING_OBJECT.search(text)
        if key:
            named = f"key {key.group(1)} of {key.group(2)} {key.group(3)}"
        elif obj:
            named = f"{'ConfigMap' if obj.group(1).lower() == 'configmap' else 'Secret'} {obj.group(2)}"
    return [
        Hypothesis(
            key="missing_config",
            title=f"{_pod_of(f)} cannot start: {named or 'a referenced ConfigMap or Secret'} is missing",
            confidence=_clamp(0.9 if named else 0.7),
            summary="The pod spec references configuration that does not exist in the namespace, so the kubelet "
            "cannot create the container (CreateContainerConfigError) and retries forever.",
            evidence=errors + mounts,
            confirm=f"`kubectl get {('configmap' if 'ConfigMap' in named else 'secret')} -n <namespace>` lacks it, "
            "and the pod starts once it is created (or the reference fixed).",
            refute="The object and key exist in the pod's namespace with the exact name the spec uses.",
            runbook="missing-config",
        )
    ]


# -- failing probes -----------------------------------------------------------------------------

PROBE = re.compile(r"(Readiness|Liveness|Startup) probe failed:?\s*(.*)", re.IGNORECASE)
PROBE_PATH = re.compile(r"https?://[^/\s\"]+(/[^\s\"]*)")
PROBE_STATUS = re.compile(r"statuscode: (\d{3})", re.IGNORECASE)


def failing_probes(facts: Facts) -> list[Hypothesis]:
    signs = facts.pods("not_ready") + [f for f in facts.troubled("kubernetes.events") if PROBE.search(f.text())]
    found = [(f, PROBE.search(f.text())) for f in signs]
    found = [(f, m) for f, m in found if m]
    if not found:
        return []
    f, match = found[0]
    kind, detail = match.group(1).capitalize(), match.group(2)
    path = PROBE_PATH.search(detail)
    status = PROBE_STATUS.search(detail)
    answer = (
        f"HTTP {status.group(1)}"
        if status
        else "connection refused"
        if "refused" in detail
        else "timeout"
        if re.search(r"timeout|deadline", detail, re.IGNORECASE)
        else _first_line(detail, 60)
    )
    where = f" {path.group(1)}" if path else ""
    liveness = any(m.group(1).lower() == "liveness" for _, m in found)
    restarts = facts.pods("restarts", "crash_loop")
    confidence = 0.5 + (0.1 if liveness and restarts else 0.0)
    return [
        Hypothesis(
            key="failing_probes",
            title=f"{kind} probe{where} fails on {_pod_of(f) if f.check == 'kubernetes.pods' else 'the pods'}: "
            f"{answer}",
            confidence=_clamp(confidence),
            summary="The kubelet's probe gets no healthy answer: failing readiness takes the pod out of its "
            "Service's endpoints, failing liveness restarts it. The probe's endpoint, port or timing may be wrong, "
            "or the app is unhealthy for a reason of its own (see the other causes).",
            evidence=[x for x, _ in found] + restarts[:2],
            confirm=f"`kubectl exec` into the pod and request the probe's path{where} on its port: it answers "
            f"the same ({answer}); fixing the path, port, timeout or the dependency makes it pass.",
            refute="The probe's path answers 200 quickly from inside the pod and the Unhealthy events stopped.",
            runbook="failing-probes",
        )
    ]


# -- failed migration blocking start ------------------------------------------------------------

MIGRATION_LINE = re.compile(r"migrat|P3009|P3018|P3006", re.IGNORECASE)


def failed_migration(facts: Facts) -> list[Hypothesis]:
    failed = facts.troubled("postgres.prisma_migrations", "postgres.django_migrations")
    if not failed:
        return []
    f = sorted(failed, key=lambda x: x.status != "crit")[0]
    confidence = 0.55 if f.status == "crit" else 0.35
    evidence = list(failed)
    crashes = facts.pods("crash_loop", "exited") + [
        x for x in facts.ever("kubernetes.pods.init", "kubernetes.jobs") if x.status == "crit"
    ]
    logs = [x for x in facts.ever("kubernetes.logs", statuses=("crit", "warn")) if MIGRATION_LINE.search(x.text())]
    tail = ""
    if crashes:
        confidence += 0.25
        evidence += crashes[:3]
        tail = f"; {_pod_of(crashes[0])} crash-loops"
    if logs:
        confidence += 0.15
        evidence += logs[:3]
    name = f.subject
    return [
        Hypothesis(
            key="failed_migration",
            title=f"Failed migration {name} blocks start{tail}",
            confidence=_clamp(confidence),
            summary="A schema migration failed part-way and is recorded as unfinished; the deploy's migrate step "
            "refuses to run again (Prisma P3009) and the application exits at startup, or runs against a schema "
            "it does not expect.",
            evidence=evidence,
            confirm="The migrations table shows the migration unfinished with an error in its logs, and the crash "
            "logs name the migration or P3009/P3018.",
            refute="Every migration finished (finished_at set, no rolled-back rows) and the crash logs say nothing "
            "about migrations.",
            runbook="db-migration-failure",
        )
    ]


@dataclass(frozen=True)
class Rule:
    key: str
    title: str  # what the rule recognises, for docs and the admin
    evaluate: Callable[[Facts], list[Hypothesis]]


RULES: tuple[Rule, ...] = (
    Rule("pool_exhausted", "Connection pool exhausted", pool_exhausted),
    Rule("slow_queries", "Slow queries driving latency", slow_queries),
    Rule("memory_leak", "Memory leak / out of memory", memory_leak),
    Rule("cpu_saturation", "CPU saturation", cpu_saturation),
    Rule("bad_deploy", "Bad deploy", bad_deploy),
    Rule("crash_at_startup", "Crash at startup", crash_at_startup),
    Rule("missing_dependency", "Missing or unreachable dependency", missing_dependency),
    Rule("image_pull", "Image cannot be pulled", image_pull),
    Rule("unschedulable", "Pod cannot be scheduled", unschedulable),
    Rule("missing_config", "Missing ConfigMap or Secret", missing_config),
    Rule("failing_probes", "Failing probes", failing_probes),
    Rule("failed_migration", "Failed migration blocking start", failed_migration),
)
