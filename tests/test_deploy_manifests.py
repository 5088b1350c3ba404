"""deploy/kubernetes: valid manifests, and least privilege for the ServiceAccount."""

from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
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
    assert tokens == {"orion-ops-web": False, "orion-ops-worker": True, "orion-ops-beat": False}
    worker = deployments["orion-ops-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert "diagnostics" in " ".join(worker["command"])
    assert deployments["orion-ops-beat"]["spec"]["replicas"] == 1
