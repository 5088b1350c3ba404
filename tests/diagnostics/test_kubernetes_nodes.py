"""The nodes that run the service's pods: conditions, usage against allocatable, and a 403 when not granted."""

from diagnostics.collectors import kubernetes as kc
from tests.diagnostics import k8s_objects as k
from tests.diagnostics.test_kubernetes import WINDOW, healthy, run, target


def on_nodes(cluster, *names):
    """Spread the target's pods over ``names`` (round robin) and give each node usage metrics."""
    for i, pod in enumerate(cluster.pods):
        pod["spec"]["nodeName"] = names[i % len(names)]
    cluster.nodes = {name: k.node(name) for name in names}
    cluster.node_metrics = {name: k.node_metrics(name, "1", "4Gi") for name in names}


def by_check(findings):
    grouped = {}
    for finding in findings:
        grouped.setdefault(finding.check, []).append(finding)
    return grouped


def test_node_under_memory_pressure_hosting_the_services_pods(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a", "node-b")
    cluster.nodes["node-b"] = k.node("node-b", pressure=("MemoryPressure",))
    cluster.node_metrics["node-b"] = k.node_metrics("node-b", "1500m", "15Gi")
    found = by_check(run(kube, "nodes"))
    statuses = {f.subject: f.status for f in found["kubernetes.nodes"]}
    assert statuses == {"node-a": "ok", "node-b": "crit"}
    pressed = next(f for f in found["kubernetes.nodes"] if f.subject == "node-b")
    assert pressed.summary == (
        "Node node-b is under MemoryPressure: kubelet has insufficient memory available; it runs 1 of the target's "
        "pods (task-service-7d9f4c8b9-def34)"
    )
    assert pressed.evidence.data["pressure"] == ["MemoryPressure"] and pressed.evidence.data["ready"] is True
    assert pressed.evidence.data["pods"] == ["task-service-7d9f4c8b9-def34"]
    usage = {f.subject: f for f in found["kubernetes.nodes.usage"]}
    assert usage["node-b"].status == "crit" and usage["node-b"].evidence.data["memory_ratio"] == 15 / 16
    assert usage["node-b"].summary == "Node node-b uses CPU 1500m of 4000m (38%), memory 15360Mi of 16384Mi (94%) of " \
        "its allocatable"  # fmt: skip
    assert usage["node-a"].status == "ok"
    # Only the nodes that run the target's pods were read.
    assert {r["path"] for r in cluster.requests if r["path"].startswith("/api/v1/nodes/")} == {
        "/api/v1/nodes/node-a",
        "/api/v1/nodes/node-b",
    }


def test_evicted_pod_points_at_its_node_and_the_node_shows_the_pressure(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a")
    evicted = k.pod("task-service-7d9f4c8b9-old99", phase="Failed", statuses=[], reason="Evicted", message=(
        "The node was low on resource: ephemeral-storage. Threshold quantity: 4281126156, available: 3140204Ki. "
        "Container app was using 2461640Ki, request is 0, has larger consumption of ephemeral-storage."))  # fmt: skip
    evicted["spec"]["nodeName"] = "node-c"
    cluster.pods.append(evicted)
    cluster.nodes["node-c"] = k.node("node-c", pressure=("DiskPressure",))
    cluster.node_metrics["node-c"] = k.node_metrics("node-c", "500m", "3Gi")
    (pod,) = [f for f in run(kube, "pods") if f.subject == "task-service-7d9f4c8b9-old99"]
    assert pod.evidence.data["node_pressure"] == {"node": "node-c", "condition": "DiskPressure"}
    node = next(f for f in run(kube, "nodes") if f.subject == "node-c" and f.check == "kubernetes.nodes")
    assert node.status == "warn" and "DiskPressure" in node.summary
    assert node.evidence.data["pods"] == ["task-service-7d9f4c8b9-old99"]


def test_not_ready_node(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a")
    cluster.nodes["node-a"] = k.node("node-a", ready="Unknown")
    (node,) = [f for f in run(kube, "nodes") if f.check == "kubernetes.nodes"]
    assert node.status == "crit"
    assert node.summary.startswith("Node node-a is NotReady (Unknown): Kubelet stopped posting node status.; it runs 3")
    assert node.evidence.data["ready"] is False and node.evidence.data["conditions"]["Ready"] == "Unknown"


def test_node_metrics_missing(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a", "node-b")
    del cluster.node_metrics["node-b"]  # metrics-server has not scraped it yet
    usage = {f.subject: f for f in by_check(run(kube, "nodes"))["kubernetes.nodes.usage"]}
    assert usage["node-b"].status == "no_data" and usage["node-b"].evidence.data["reason"] == "no_metrics"
    assert usage["node-a"].status == "ok"
    cluster.node_metrics = None  # no metrics API at all
    usage = by_check(run(kube, "nodes"))["kubernetes.nodes.usage"]
    assert {(f.status, f.evidence.data["reason"]) for f in usage} == {("no_data", "metrics_unavailable")}
    assert "metrics-server" in usage[0].summary


def test_forbidden_nodes_are_no_data_with_the_reason(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a", "node-b")
    cluster.forbidden_resources = {"nodes"}
    findings = kc.KubernetesCollector().collect(target(kube), WINDOW)
    (nodes,) = [f for f in findings if f.check.startswith("kubernetes.nodes")]
    assert nodes.status == "no_data" and nodes.evidence.data["reason"] == "forbidden"
    assert "deploy/kubernetes/rbac-nodes.yaml" in nodes.summary
    # The rest of the collector is untouched by the missing grant.
    assert {f.status for f in findings if not f.check.startswith("kubernetes.nodes")} <= {"ok", "no_data"}
    assert [r for r in cluster.requests if r["path"].startswith("/api/v1/nodes/")][0]["path"] in (
        "/api/v1/nodes/node-a",
        "/api/v1/nodes/node-b",
    )


def test_node_metrics_forbidden_alone(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a")
    cluster.forbidden_resources = {"metrics.k8s.io/v1beta1/nodes"}
    found = by_check(run(kube, "nodes"))
    assert [f.status for f in found["kubernetes.nodes"]] == ["ok"]
    assert [(f.status, f.evidence.data["reason"]) for f in found["kubernetes.nodes.usage"]] == [
        ("no_data", "forbidden")
    ]


def test_pods_pending_on_a_pressure_taint_point_at_the_nodes_under_pressure(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a")
    pending = "task-service-7d9f4c8b9-new01"
    cluster.pods.append(k.pod(pending, phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]))  # fmt: skip
    cluster.events.append(k.event(pending, "FailedScheduling", "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) "
                                  "had untolerated taint {node.kubernetes.io/memory-pressure: }."))  # fmt: skip
    cluster.nodes["node-b"] = k.node("node-b", pressure=("MemoryPressure",))
    cluster.nodes["node-c"] = k.node("node-c", pressure=("MemoryPressure",))
    cluster.nodes["node-d"] = k.node("node-d", pressure=("DiskPressure",))  # a pressure nobody waits on
    nodes = {f.subject: f for f in run(kube, "nodes") if f.check == "kubernetes.nodes"}
    assert set(nodes) == {"node-a", "node-b", "node-c"}
    assert nodes["node-b"].status == "crit" and nodes["node-b"].evidence.data["pending_pods"] == [pending]
    assert nodes["node-b"].summary.endswith(f"it keeps 1 pending pods of the target off it ({pending})")
    assert nodes["node-a"].evidence.data["pending_pods"] == []


def test_pending_for_other_reasons_lists_no_nodes(kube, cluster):
    healthy(cluster)
    on_nodes(cluster, "node-a")
    pending = "task-service-7d9f4c8b9-new02"
    cluster.pods.append(k.pod(pending, phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."}]))  # fmt: skip
    cluster.nodes["node-b"] = k.node("node-b", pressure=("MemoryPressure",))
    assert {f.subject for f in run(kube, "nodes") if f.check == "kubernetes.nodes"} == {"node-a"}
    assert not [r for r in cluster.requests if r["path"] == "/api/v1/nodes"]
