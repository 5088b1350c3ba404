"""The Kubernetes actions (scale, rollout restart): the real client over HTTP against a loopback API server."""

from datetime import datetime

import pytest
from kubernetes.client.exceptions import ApiException

from diagnostics.actions import kubernetes as actions
from diagnostics.collectors.base import ConfigurationError
from tests.diagnostics import k8s_objects as k

NOW = datetime.fromisoformat("2026-11-20T11:30:00+00:00")
TIMEOUT = (3.0, 10.0)


@pytest.fixture
def config(kube):
    return {
        "kubeconfig": str(kube.kubeconfig_path),
        "context": "prod",
        "namespace": "orion-prod",
        "selector": "app=task-service",
        "deployment": "task-service",
    }


def writes(cluster) -> list[dict]:
    return [r for r in cluster.requests if r["method"] == "PATCH"]


def test_scale_and_restart_send_the_right_requests(config, cluster):
    assert actions.deployment_replicas(config, timeout=TIMEOUT) == 3
    result = actions.deployment_scale(config, replicas=5, timeout=TIMEOUT)
    assert (result.action, result.before, result.after) == ("scale", 3, 5)
    assert result.detail == "scaled task-service from 3 to 5"
    (patch,) = writes(cluster)
    assert patch["path"] == "/apis/apps/v1/namespaces/orion-prod/deployments/task-service/scale"
    assert patch["body"] == {"spec": {"replicas": 5}}
    restart = actions.deployment_restart(config, now=NOW, timeout=TIMEOUT)
    assert restart.action == "restart" and restart.detail == "rolling restart of task-service started"
    annotations = writes(cluster)[-1]["body"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"kubectl.kubernetes.io/restartedAt": "2026-11-20T11:30:00Z"}


def test_autoscalers_of_the_deployment_only(config, cluster):
    billing = k.hpa(current=1, desired=1, limited=False)
    billing["metadata"]["name"] = "billing"
    billing["spec"]["scaleTargetRef"]["name"] = "billing"
    cluster.hpas = [k.hpa(current=3, desired=3, minimum=2, maximum=10, limited=False), billing]
    assert actions.deployment_autoscalers(config, timeout=TIMEOUT) == [
        actions.Autoscaler(name="task-service", min_replicas=2, max_replicas=10)
    ]


def test_denied_scale_is_reported_and_explained(config, cluster):
    cluster.forbidden = True
    with pytest.raises(ApiException) as error:
        actions.deployment_scale(config, replicas=5, timeout=TIMEOUT)
    assert error.value.status == 403
    assert not writes(cluster)
    description = actions.describe_failure(error.value, config)
    assert description.startswith("the Kubernetes API refused it (403 Forbidden)")
    assert f"apply {actions.RBAC_ACTIONS} in namespace orion-prod" in description


def test_a_target_without_a_deployment_is_a_configuration_error(config, cluster):
    with pytest.raises(ConfigurationError, match="needs the target's namespace and deployment"):
        actions.deployment_scale({**config, "deployment": ""}, replicas=5, timeout=TIMEOUT)
    assert not cluster.requests
