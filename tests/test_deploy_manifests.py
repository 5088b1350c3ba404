"""deploy/kubernetes: valid manifests, and least privilege for the ServiceAccount.

Every document is validated offline against the Kubernetes OpenAPI schemas shipped
with kubernetes-validate (strict: unknown fields are errors).
"""

import ast
import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33"
WORKLOADS = ("Deployment", "Job")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}


def documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


@pytest.mark.parametrize("name", sorted(p.name for p in DEPLOY.glob("*.yaml")))
def test_every_manifest_has_kind_version_and_name(name):
    for doc in documents(name):
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


def test_diagnostics_role_reads_only():
    (role,) = [d for d in documents("rbac-diagnostics.yaml") if d["kind"] == "ClusterRole"]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"pods", "pods/log", "events", "deployments", "replicasets", "horizontalpodautoscalers"} <= resources
    assert "secrets" not in resources


def test_actions_role_only_scales_and_restarts_deployments():
    (role,) = [d for d in documents("rbac-actions.yaml") if d["kind"] == "Role"]
    grants = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert grants == {("deployments/scale", "get"), ("deployments/scale", "patch"), ("deployments", "patch")}
    assert not {v for _, v in grants} & (WRITE_VERBS - {"patch"})


def test_only_the_worker_mounts_the_service_account_token():
    deployments = {d["metadata"]["name"]: d for d in documents("app.yaml") if d["kind"] == "Deployment"}
    tokens = {
        name: d["spec"]["template"]["spec"].get("automountServiceAccountToken", True) for name, d in deployments.items()
    }
    assert tokens == {
        "orion-ops-web": False,
        "orion-ops-events": False,
        "orion-ops-worker": True,
        "orion-ops-beat": False,
    }
    worker = deployments["orion-ops-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert "diagnostics" in " ".join(worker["command"])
    assert deployments["orion-ops-beat"]["spec"]["replicas"] == 1


def test_nodes_role_is_optional_cluster_scoped_and_reads_only():
    docs = documents("rbac-nodes.yaml")
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    grants = {(group, r, v) for rule in role["rules"] for group in rule["apiGroups"] for r in rule["resources"]
              for v in rule["verbs"]}  # fmt: skip
    assert grants == {(g, "nodes", v) for g in ("", "metrics.k8s.io") for v in ("get", "list")}
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (diagnostics,) = [d for d in documents("rbac-diagnostics.yaml") if d["kind"] == "ServiceAccount"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": diagnostics["metadata"]["name"],
                                    "namespace": diagnostics["metadata"]["namespace"]}]  # fmt: skip
    # Optional means apart: the namespaced diagnostics role never reaches nodes.
    (namespaced,) = [d for d in documents("rbac-diagnostics.yaml") if d["kind"] == "ClusterRole"]
    assert "nodes" not in {r for rule in namespaced["rules"] for r in rule["resources"]}


def test_diagnostics_role_reads_the_targets_jobs():
    (role,) = [d for d in documents("rbac-diagnostics.yaml") if d["kind"] == "ClusterRole"]
    assert {("batch", "jobs", v) for v in ("get", "list")} <= {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }


def all_documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted(DEPLOY.glob("*.yaml")) for doc in documents(path.name)]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in all_documents() if doc["kind"] == kind}


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(p.name for p in DEPLOY.glob("*.yaml")))
def test_every_manifest_validates_against_the_kubernetes_schemas(name):
    for doc in documents(name):
        validate(doc)


def _misspelled_field(docs):
    docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"


def _wrong_type(docs):
    docs["Deployment"]["spec"]["replicas"] = "two"


def _missing_required(docs):
    del docs["Service"]["spec"]["ports"][0]["port"]


def _bad_hpa_target(docs):
    docs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["target"]["type"] = 7


@pytest.mark.parametrize("break_it", [_misspelled_field, _wrong_type, _missing_required, _bad_hpa_target])
def test_a_broken_manifest_is_rejected(break_it):
    docs = {
        kind: copy.deepcopy(next(iter(by_kind(kind).values())))
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler")
    }
    for doc in docs.values():
        validate(doc)  # control: the copies are valid before the breakage
    break_it(docs)
    with pytest.raises(kubernetes_validate.ValidationError):
        for doc in docs.values():
            validate(doc)


def settings_read() -> set[str]:
    """The variables orion_ops/settings.py reads through orion_ops.env (env_str, env_int, env_bool, env_list)."""
    tree = ast.parse((ROOT / "orion_ops" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_setting_is_in_the_config_map_or_the_secret():
    (config_map,) = by_kind("ConfigMap").values()
    (secret,) = by_kind("Secret").values()
    configured = set(config_map["data"]) | set(secret.get("stringData", {})) | set(secret.get("data", {}))
    read = settings_read()
    assert {"DATABASE_URL", "SECRET_KEY", "LOG_FORMAT", "REDIS_KEY_PREFIX"} <= read  # the scan finds them
    assert sorted(read - configured) == []
    assert not set(config_map["data"]) & {"SECRET_KEY", "DATABASE_URL", "METRICS_TOKEN"}, "secrets in the ConfigMap"


def pod_specs():
    for name, doc in by_kind("Deployment").items():
        yield name, doc["spec"]["template"]["spec"]
    for name, doc in by_kind("Job").items():
        yield name, doc["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", ["orion-ops-web", "orion-ops-worker", "orion-ops-beat", "orion-ops-migrate"])
def test_every_container_runs_non_root_on_a_read_only_root_with_resources(name):
    spec = dict(pod_specs())[name]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
        assert {"configMapRef": {"name": "orion-ops"}} in container["envFrom"]
        assert {"secretRef": {"name": "orion-ops"}} in container["envFrom"]
        mounted = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert {"/app/var", "/tmp"} <= mounted  # the only writable places


def test_web_probes_ready_and_alive_with_an_allowed_host():
    (container,) = by_kind("Deployment")["orion-ops-web"]["spec"]["template"]["spec"]["containers"]
    (config_map,) = by_kind("ConfigMap").values()
    allowed = config_map["data"]["ALLOWED_HOSTS"].split(",")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        host = {h["name"]: h["value"] for h in get["httpHeaders"]}["Host"]
        assert host in allowed


def test_beat_is_one_replica_replaced_not_rolled():
    beat = by_kind("Deployment")["orion-ops-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [
        h
        for h in by_kind("HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"]["name"] == "orion-ops-beat"
    ]


def test_web_and_workers_scale_and_keep_one_during_disruptions():
    deployments = by_kind("Deployment")
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in by_kind("HorizontalPodAutoscaler").values()}
    assert set(scaled) == {"orion-ops-web", "orion-ops-worker"}
    for name, spec in scaled.items():
        assert 1 <= spec["minReplicas"] < spec["maxReplicas"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment" and name in deployments
    budgets = {
        tuple(sorted(p["spec"]["selector"]["matchLabels"].items())): p["spec"]
        for p in by_kind("PodDisruptionBudget").values()
    }
    for name in scaled:
        labels = tuple(sorted(deployments[name]["spec"]["selector"]["matchLabels"].items()))
        assert budgets[labels]["minAvailable"] >= 1


def test_the_migrate_job_and_the_service():
    (job,) = by_kind("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["migrate", "--noinput"]
    service = by_kind("Service")["orion-ops-web"]
    web = by_kind("Deployment")["orion-ops-web"]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    (ingress,) = by_kind("Ingress").values()
    backends = {
        p["path"]: p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]
    }
    assert backends == {"/dashboard/events/": "orion-ops-events", "/": "orion-ops-web"}


def test_the_event_stream_has_its_service_route_and_setting():
    """The dashboards' stream runs apart (uvicorn), is probed on its own health path, and pages are told where it is."""
    from incidents.web.events import EVENTS_PATH, HEALTH_PATH

    events = by_kind("Deployment")["orion-ops-events"]
    (container,) = events["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["uvicorn", "orion_ops.events:application"]
    port = container["ports"][0]["containerPort"]
    assert f"--port={port}" in container["command"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH_PATH
    service = by_kind("Service")["orion-ops-events"]
    assert service["spec"]["selector"] == events["spec"]["selector"]["matchLabels"]
    (ingress,) = by_kind("Ingress").values()
    (route,) = [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"] if p["path"] == EVENTS_PATH]
    assert route["backend"]["service"]["port"]["name"] == service["spec"]["ports"][0]["name"]
    (config,) = by_kind("ConfigMap").values()
    assert config["data"]["LIVE_EVENTS_URL"] == EVENTS_PATH
    budgets = [b["spec"] for b in by_kind("PodDisruptionBudget").values()]
    labels = events["spec"]["selector"]["matchLabels"]
    assert [b["minAvailable"] for b in budgets if b["selector"]["matchLabels"] == labels] == [1]
    assert events["spec"]["replicas"] >= 2


def documented_diagnostics_rules() -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) rows of the diagnostics RBAC table in docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("<!-- rbac-diagnostics -->")[1].split("<!-- /rbac-diagnostics -->")[0]
    grants = set()
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("API group", "") or set(cells[0]) <= {"-"}:
            continue
        group = "" if cells[0] == "core" else cells[0]
        for resource in re.split(r",\s*", cells[1]):
            for verb in re.split(r",\s*", cells[2]):
                grants.add((group, resource.strip("`"), verb.strip("`")))
    return grants


def grants_of(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def test_diagnostics_rbac_is_exactly_as_documented():
    documented = documented_diagnostics_rules()
    assert documented, "docs/operations.md has no diagnostics RBAC table"
    (role,) = [d for d in documents("rbac-diagnostics.yaml") if d["kind"] == "ClusterRole"]
    assert grants_of(role) == documented


def test_writes_and_node_reads_are_separate_opt_in_roles():
    """The diagnostics role never writes or reads nodes; any role that does lives in its own file."""
    for name, doc in all_documents():
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        grants = grants_of(doc)
        writes = {g for g in grants if g[2] in WRITE_VERBS}
        nodes = {g for g in grants if g[1].split("/")[0] == "nodes"}
        if name == "rbac-diagnostics.yaml":
            assert not writes and not nodes, (doc["metadata"]["name"], writes | nodes)
        if writes:
            assert name == "rbac-actions.yaml", (name, writes)
        assert not any(g[1] in ("secrets", "*") or g[2] == "*" for g in grants), (name, doc["metadata"]["name"])
