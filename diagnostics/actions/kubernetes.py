"""Writes to a service's Kubernetes deployment: scale and rollout restart, what a mitigation runs.

Each call builds its own ApiClient for the target (its kubeconfig and context,
or the in-cluster account: the collector's ``api_client``) and has a timeout.
The cluster must let Orion Ops's service account patch the deployment and its
scale: ``RBAC_ACTIONS`` in the target's namespace.
"""

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from diagnostics.collectors.base import CollectorError, ConfigurationError
from diagnostics.collectors.kubernetes import api_client

RBAC_ACTIONS = "deploy/kubernetes/rbac-actions.yaml"

Timeout = tuple[float, float]  # connect, read


@dataclass(frozen=True)
class MitigationResult:
    action: str
    deployment: str
    before: int | None
    after: int | None
    detail: str


@dataclass(frozen=True)
class Autoscaler:
    name: str
    min_replicas: int
    max_replicas: int


@contextmanager
def _deployments(config: Mapping) -> Iterator[tuple[k8s.AppsV1Api, str, str]]:
    """The apps API of the target's cluster, its namespace and its deployment's name."""
    namespace, name = config.get("namespace"), config.get("deployment")
    if not namespace or not name:
        raise ConfigurationError("a mitigation needs the target's namespace and deployment")
    api = api_client(config)
    try:
        yield k8s.AppsV1Api(api), namespace, name
    finally:
        api.close()


def deployment_replicas(config: Mapping, *, timeout: Timeout) -> int | None:
    """The replicas the deployment asks for now (kubectl get deployment NAME)."""
    with _deployments(config) as (apps, namespace, name):
        return apps.read_namespaced_deployment_scale(name, namespace, _request_timeout=timeout).spec.replicas


def deployment_autoscalers(config: Mapping, *, timeout: Timeout) -> list[Autoscaler]:
    """The HorizontalPodAutoscalers that manage the deployment: they may undo a manual scale."""
    with _deployments(config) as (apps, namespace, name):
        autoscaling = k8s.AutoscalingV2Api(apps.api_client)
        items = autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace, _request_timeout=timeout).items
    return [
        Autoscaler(name=hpa.metadata.name, min_replicas=hpa.spec.min_replicas or 1, max_replicas=hpa.spec.max_replicas)
        for hpa in items
        if hpa.spec.scale_target_ref
        and hpa.spec.scale_target_ref.kind == "Deployment"
        and hpa.spec.scale_target_ref.name == name
    ]


def deployment_scale(config: Mapping, *, replicas: int, timeout: Timeout) -> MitigationResult:
    """kubectl scale deployment NAME --replicas=N"""
    with _deployments(config) as (apps, namespace, name):
        before = apps.read_namespaced_deployment_scale(name, namespace, _request_timeout=timeout).spec.replicas
        scale = apps.patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}, _request_timeout=timeout
        )
    return MitigationResult("scale", name, before, scale.spec.replicas, f"scaled {name} from {before} to {replicas}")


def deployment_restart(config: Mapping, *, now: datetime, timeout: Timeout) -> MitigationResult:
    """kubectl rollout restart deployment NAME (the same annotation kubectl sets)."""
    restarted_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": restarted_at}}}}}
    with _deployments(config) as (apps, namespace, name):
        deployment = apps.patch_namespaced_deployment(name, namespace, body, _request_timeout=timeout)
    replicas = deployment.spec.replicas
    return MitigationResult("restart", name, replicas, replicas, f"rolling restart of {name} started")


# The failures an action can meet: a refusal, an unreachable API, a misconfigured target.
EXPECTED_FAILURES = (ApiException, CollectorError, urllib3.exceptions.HTTPError, OSError)


def describe_failure(exc: Exception, config: Mapping) -> str:
    """A refusal or failure of the Kubernetes API, in words an engineer can act on. Never a credential."""
    if isinstance(exc, ApiException):
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            pass
        said = f": {message[:400]}" if message else ""
        if exc.status == 403:
            return (
                f"the Kubernetes API refused it (403 Forbidden){said}. Let Orion Ops's service account scale and "
                f"restart here: apply {RBAC_ACTIONS} in namespace {config.get('namespace')}."
            )
        if exc.status == 401:
            return "the Kubernetes API refused the credentials (401): check the kubeconfig or service account token"
        if exc.status == 404:
            return f"not found (404){said}"
        return f"the Kubernetes API answered {exc.status} {exc.reason or ''}".rstrip() + said
    if isinstance(exc, CollectorError):
        return exc.message
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return f"the Kubernetes API is unreachable or too slow ({type(exc).__name__})"
    return f"unexpected error: {type(exc).__name__}"
