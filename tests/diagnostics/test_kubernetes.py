"""The Kubernetes collector: the real client over HTTP against a loopback API server."""

from datetime import datetime, timedelta

import pytest

from diagnostics.collectors import kubernetes as kc
from diagnostics.collectors.base import CollectorError, TargetSpec, Window
from tests.diagnostics import k8s_objects as k
from tests.kube_api import Cluster, KubeApiServer

NOW = datetime.fromisoformat("2026-11-20T11:30:00+00:00")
WINDOW = Window(start=NOW - timedelta(minutes=45), now=NOW)


@pytest.fixture
def cluster():
    return Cluster()


@pytest.fixture
def api(cluster, tmp_path):
    with KubeApiServer(cluster) as server:
        server.kubeconfig_path = server.kubeconfig(tmp_path / "kubeconfig")
        yield server


def target(api, **extra) -> TargetSpec:
    config = {
        "kubeconfig": str(api.kubeconfig_path),
        "context": "prod",
        "namespace": "orion-prod",
        "selector": "app=task-service",
        "deployment": "task-service",
        **extra,
    }
    return TargetSpec(kind="kubernetes", name="task-service", config=config)


def run(api, check):
    collector = kc.KubernetesCollector()
    spec = target(api)
    with collector.open(spec, WINDOW) as session:
        return collector.run_check(check, session, WINDOW)


def healthy(cluster):
    cluster.pods = [k.pod(f"task-service-7d9f4c8b9-{s}") for s in ("abc12", "def34", "ghi56")]
    cluster.deployments["task-service"] = k.deployment()
    cluster.replicasets = [k.replicaset("task-service-7d9f4c8b9", "registry.example.com/orion/task-service:1.42.0",
                                        "2026-11-01T09:00:00Z")]  # fmt: skip
    cluster.hpas = [k.hpa(current=3, desired=3, limited=False)]
    cluster.services = [k.service()]
    cluster.endpoints["task-service"] = k.endpoints(3)
    cluster.pod_metrics = [k.pod_metrics(p["metadata"]["name"], "120m", "180Mi") for p in cluster.pods]
    cluster.events = [
        k.event("task-service-7d9f4c8b9-abc12", "Pulled", "Container image already present", type_="Normal")
    ]
    cluster.nodes = {"node-a": k.node("node-a")}
    cluster.node_metrics = {"node-a": k.node_metrics("node-a", "1200m", "6Gi")}


def test_healthy_deployment_is_all_ok(api, cluster):
    healthy(cluster)
    findings = kc.KubernetesCollector().collect(target(api), WINDOW)
    statuses = {f.check: f.status for f in findings}
    assert statuses == {
        "kubernetes.pods": "ok",
        "kubernetes.events": "ok",
        "kubernetes.logs.error_groups": "ok",
        "kubernetes.top": "ok",
        "kubernetes.deployment": "ok",
        "kubernetes.hpa": "ok",
        "kubernetes.endpoints": "ok",
        "kubernetes.jobs": "no_data",
        "kubernetes.nodes": "ok",
        "kubernetes.nodes.usage": "ok",
    }
    pods = next(f for f in findings if f.check == "kubernetes.pods")
    assert pods.summary == "All 3 pods running and ready (0 restarts)"
    # The client used the target's context and a label selector, with the bearer token of the kubeconfig.
    pod_lists = [r for r in cluster.requests if r["path"].endswith("/pods") and "metrics" not in r["path"]]
    assert pod_lists[0]["query"]["labelSelector"] == ["app=task-service"]


def test_crashloop_with_econnrefused_in_previous_logs(api, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-abc12"
    cluster.pods[0] = k.pod(name, statuses=[k.container_status(
        ready=False, restarts=7,
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"},
        terminated_last={"reason": "Error", "exitCode": 1, "startedAt": "2026-11-20T11:20:00Z",
                         "finishedAt": "2026-11-20T11:20:03Z"},
    )])  # fmt: skip
    cluster.logs[(name, "app", True)] = "\n".join(
        [
            "2026-11-20T11:20:01.000Z INFO task-service starting on :3000",
            "2026-11-20T11:20:02.120Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
            "2026-11-20T11:20:02.500Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
            "2026-11-20T11:20:03.000Z ERROR fatal: cannot start without the database",
        ]
    )
    pods = run(api, "pods")
    crash = next(f for f in pods if "CrashLoopBackOff" in f.summary)
    assert crash.status == "crit" and crash.subject == name
    assert "after 7 restarts; last exit Error (code 1, the application exited with an error)" in crash.summary
    # The decisive line of the previous container's log is in the finding: the last of the most telling kind.
    assert crash.summary.endswith("; log: Error: connect ECONNREFUSED 10.0.3.4:5432")
    data = crash.evidence.to_dict()["data"]
    assert data["problem"] == "crash_loop" and data["exit_code"] == 1 and data["container"] == "app"
    assert crash.runbook == "service-not-starting"
    log_findings = run(api, "logs")
    refused = next(f for f in log_findings if f.check == "kubernetes.logs.pattern.econnrefused")
    assert refused.subject == "10.0.3.4:5432" and refused.status == "crit"
    assert "--previous" in refused.evidence.query
    log_request = next(r for r in cluster.requests if r["path"].endswith("/log"))
    assert log_request["query"]["previous"] == ["true"] and log_request["query"]["container"] == ["app"]


def test_oomkilled(api, cluster):
    healthy(cluster)
    cluster.pods[1] = k.pod("task-service-7d9f4c8b9-def34", statuses=[k.container_status(
        restarts=2, terminated_last={"reason": "OOMKilled", "exitCode": 137, "startedAt": T(), "finishedAt": T()},
    )])  # fmt: skip
    (finding,) = run(api, "pods")
    assert finding.status == "crit" and "OOMKilled (exit 137)" in finding.summary
    assert finding.runbook == "memory-leak"


def T():
    return "2026-11-20T11:10:00Z"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            'Failed to pull image "registry.example.com/orion/task-service:1.43.0": manifest unknown',
            "image or tag missing",
        ),
        ("failed to authorize: failed to fetch oauth token: 401 Unauthorized", "not authorised"),
        ("Get https://registry.example.com/v2/: dial tcp 10.1.1.1:443: i/o timeout", "registry unreachable"),
    ],
)
def test_image_pull_backoff_is_classified(api, cluster, message, kind):
    healthy(cluster)
    cluster.pods[0] = k.pod("task-service-7d9f4c8b9-abc12", phase="Pending", statuses=[k.container_status(
        ready=False, waiting={"reason": "ImagePullBackOff", "message": message})])  # fmt: skip
    (finding,) = run(api, "pods")
    assert finding.status == "crit"
    assert finding.summary.endswith(f"cannot pull registry.example.com/orion/task-service:1.42.0: {kind}")


def test_pending_pod_with_failed_scheduling(api, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-new01"
    cluster.pods.append(k.pod(name, phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]))  # fmt: skip
    cluster.events.append(k.event(name, "FailedScheduling",
                                  "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint "
                                  "{node-role.kubernetes.io/control-plane: }."))  # fmt: skip
    (finding,) = run(api, "pods")
    assert finding.status == "crit" and finding.subject == name
    assert (
        "Pending, unschedulable: insufficient cpu (2 nodes), untolerated taint node-role.kubernetes.io/control-plane "
        "(1 node) (0/3 nodes available)" in finding.summary
    )
    events = run(api, "events")[0]
    assert events.status == "warn" and "scheduling 1" in events.summary


def test_readiness_probe_failing(api, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-ghi56"
    cluster.pods[2] = k.pod(name, statuses=[k.container_status(ready=False)],
                            conditions=[{"type": "Ready", "status": "False"}])  # fmt: skip
    cluster.pods[2]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/ready", "port": 3000, "scheme": "HTTP"},
        "periodSeconds": 5,
        "failureThreshold": 3,
    }
    cluster.events.append(k.event(name, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"))
    (finding,) = run(api, "pods")
    assert finding.status == "warn"
    assert "running but not ready: Readiness probe failed: HTTP probe failed with statuscode: 503" in finding.summary
    assert finding.evidence.data["probe"] == {
        "kind": "readiness",
        "cause": "status",
        "status": 503,
        "url": "",
        "handler": "httpGet",
        "path": "/ready",
        "port": "3000",
    }


def test_liveness_restarts_carry_the_probes_port(api, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-ghi56"
    cluster.pods[2] = k.pod(name, statuses=[k.container_status(restarts=4, terminated_last=k.terminated(137))])
    cluster.pods[2]["spec"]["containers"][0]["livenessProbe"] = {"tcpSocket": {"port": 3000}}
    cluster.events.append(
        k.event(
            name, "Unhealthy", "Liveness probe failed: dial tcp 10.244.1.5:3000: connect: connection refused", count=12
        )
    )
    (finding,) = run(api, "pods")
    assert finding.evidence.data["probe"]["cause"] == "refused" and finding.evidence.data["probe"]["port"] == "3000"
    assert finding.summary.endswith("Liveness probe failed: dial tcp 10.244.1.5:3000: connect: connection refused")


def test_evicted_pod(api, cluster):
    healthy(cluster)
    cluster.pods.append(k.pod("task-service-7d9f4c8b9-old99", phase="Failed", statuses=[], reason="Evicted",
                              message="The node was low on resource: memory."))  # fmt: skip
    (finding,) = run(api, "pods")
    assert finding.status == "warn"
    assert finding.summary.endswith("evicted from node-a (MemoryPressure): The node was low on resource: memory.")
    assert finding.evidence.data["node_pressure"] == {"node": "node-a", "condition": "MemoryPressure"}


def test_labels_of_returned_pods_are_checked(api, cluster):
    healthy(cluster)
    cluster.ignore_selectors = True  # a server (or a proxy) that ignores labelSelector
    cluster.pods.append(k.pod("billing-5f6g7h8i9-zzz99", labels={"app": "billing"},
                              statuses=[k.container_status(ready=False,
                                                           waiting={"reason": "CrashLoopBackOff"})]))  # fmt: skip
    (finding,) = run(api, "pods")
    assert finding.status == "ok" and finding.summary.startswith("All 3 pods")


def test_top_over_the_limit(api, cluster):
    healthy(cluster)
    cluster.pod_metrics[0] = k.pod_metrics("task-service-7d9f4c8b9-abc12", "950m", "200Mi")  # the seed's "High!"
    findings = run(api, "top")
    assert [f.status for f in findings] == ["crit"]
    assert findings[0].summary == "task-service-7d9f4c8b9-abc12/app uses 950m CPU of its 1000m limit (95%)"
    assert findings[0].runbook == "high-cpu"
    assert len(findings[0].evidence.table.rows) == 3


def test_metrics_api_missing_is_no_data(api, cluster):
    healthy(cluster)
    cluster.pod_metrics = None
    (finding,) = run(api, "top")
    assert finding.status == "no_data" and "metrics-server" in finding.summary


def test_hpa_at_max_and_missing_metrics(api, cluster):
    healthy(cluster)
    cluster.hpas = [k.hpa(current=10, desired=10, maximum=10, limited=True)]
    (finding,) = run(api, "hpa")
    assert finding.status == "warn" and finding.summary == "task-service at its maximum: 10 of max 10 replicas"
    cluster.hpas = [k.hpa(current=3, desired=3, limited=False, active=False)]
    replicas, metrics = run(api, "hpa")
    assert replicas.status == "ok" and metrics.check == "kubernetes.hpa.metrics" and metrics.status == "warn"
    assert "FailedGetResourceMetric" in metrics.summary


def test_stuck_rollout_and_recent_change(api, cluster):
    healthy(cluster)
    cluster.deployments["task-service"] = k.deployment(available=2, ready=2, updated=1, progressing={
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "task-service-5b6c7d8e9" has timed out progressing.'})  # fmt: skip
    cluster.replicasets.append(k.replicaset("task-service-5b6c7d8e9", "registry.example.com/orion/task-service:1.43.0",
                                            "2026-11-20T10:40:00Z", replicas=1))  # fmt: skip
    findings = run(api, "deployment")
    stuck, change = findings
    assert stuck.status == "crit" and "Rollout of task-service is stuck" in stuck.summary
    assert change.check == "kubernetes.deployment.recent_change" and change.status == "warn"
    assert (
        "task-service:1.43.0" in change.summary
        and "(was registry.example.com/orion/task-service:1.42.0)" in change.summary
    )


def test_service_without_ready_endpoints(api, cluster):
    healthy(cluster)
    cluster.endpoints["task-service"] = k.endpoints(0, not_ready=3)
    (finding,) = run(api, "endpoints")
    assert finding.status == "crit" and "has no ready endpoints (3 not ready)" in finding.summary


def test_forbidden_api_gives_error_findings_not_a_crash(api, cluster):
    healthy(cluster)
    cluster.forbidden = True
    findings = kc.KubernetesCollector().collect(target(api), WINDOW)
    assert {f.status for f in findings} == {"error"}
    assert all("forbidden (403)" in f.summary for f in findings)
    assert len(findings) == len(kc.KubernetesCollector.checks)


def test_timeout_is_a_transient_collector_error(api, cluster):
    healthy(cluster)
    cluster.delay = 1.5  # the API server hangs longer than the target's read timeout
    with pytest.raises(CollectorError) as error:
        kc.KubernetesCollector().collect(target(api, timeout_seconds=0.5), WINDOW)
    assert error.value.permanent is False and "too slow" in error.value.message


def test_bad_kubeconfig_is_a_configuration_error(tmp_path):
    spec = TargetSpec(kind="kubernetes", name="x", config={"kubeconfig": str(tmp_path / "missing"), "namespace": "n",
                                                            "selector": "app=x"})  # fmt: skip
    with pytest.raises(CollectorError) as error:
        kc.KubernetesCollector().collect(spec, WINDOW)
    assert error.value.permanent is True


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [("950m", 0.95), ("1", 1.0), ("1.5", 1.5), ("250m", 0.25), ("250000000n", 0.25), ("1500u", 0.0015), ("1e3", 1000)],
)
def test_cpu_quantities_in_cores(quantity, cores):
    assert kc.quantity(quantity) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("256Mi", 256 * 2**20),
        ("1G", 1e9),
        ("262144Ki", 256 * 2**20),
        ("1Gi", 2**30),
        ("100Ki", 102400),
        ("0.5Gi", 2**29),
        ("1e3", 1000),
        ("1.5", 1.5),
    ],
)
def test_memory_quantities_in_bytes(quantity, size):
    assert kc.quantity(quantity) == size


@pytest.mark.parametrize("quantity", ["", None, "lots", "1Qi", "--1", "inf"])
def test_absent_or_malformed_quantities_are_none(quantity):
    assert kc.quantity(quantity) is None


def test_top_reads_odd_quantities_like_kubectl(api, cluster):
    healthy(cluster)
    # 0.5Gi of a 512Mi limit is 100 %; 1.5 cores of a 1500m limit too.
    cluster.pod_metrics[0] = k.pod_metrics("task-service-7d9f4c8b9-abc12", "1.5", "0.5Gi")
    cluster.pods[0] = k.pod("task-service-7d9f4c8b9-abc12", cpu_limit="1500m", memory_limit="512Mi")
    findings = run(api, "top")
    assert [(f.status, f.evidence.observed) for f in findings] == [("crit", 1.0), ("crit", 1.0)]
    assert findings[0].summary == "task-service-7d9f4c8b9-abc12/app uses 1500m CPU of its 1500m limit (100%)"
    assert findings[1].summary == "task-service-7d9f4c8b9-abc12/app uses 512Mi memory of its 512Mi limit (100%)"


def test_thresholds_are_the_configuration_passed_in(api, cluster):
    healthy(cluster)
    cluster.pod_metrics[0] = k.pod_metrics("task-service-7d9f4c8b9-abc12", "950m", "200Mi")
    collector = kc.KubernetesCollector(config=kc.KubernetesConfig(usage_warn=0.96, usage_crit=0.99))
    with collector.open(target(api), WINDOW) as session:
        (finding,) = collector.run_check("top", session, WINDOW)
    assert finding.status == "ok" and finding.summary == "CPU and memory below 96% of their limits in 3 containers"
    collector = kc.KubernetesCollector(config=kc.KubernetesConfig(usage_warn=0.5, usage_crit=0.96))
    with collector.open(target(api), WINDOW) as session:
        (finding,) = collector.run_check("top", session, WINDOW)
    assert finding.status == "warn" and finding.evidence.threshold == 0.5
