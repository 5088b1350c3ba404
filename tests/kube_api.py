"""A small Kubernetes API server on loopback that serves genuine Kubernetes JSON.

The real `kubernetes` client talks to it over HTTP through a kubeconfig. It
knows the read paths the collector uses (pods, logs, events, deployments,
replica sets, jobs, HPAs, services, endpoints, nodes, metrics.k8s.io pods and
nodes) and the two writes mitigations make (deployment scale, deployment
patch), which it records. Objects are plain dicts, written from the Kubernetes
API reference; refusals are the API server's ``Status`` bodies (a log of a
container still waiting to start is a 400, a resource the account may not read
a 403).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml


def status_body(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


def _matches(labels: dict, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class Cluster:
    def __init__(self, namespace: str = "orion-prod"):
        self.namespace = namespace
        self.pods: list[dict] = []
        self.events: list[dict] = []
        self.deployments: dict[str, dict] = {}
        self.replicasets: list[dict] = []
        self.hpas: list[dict] = []
        self.services: list[dict] = []
        self.endpoints: dict[str, dict] = {}
        self.pod_metrics: list[dict] | None = []  # None: metrics API not installed
        self.jobs: list[dict] = []
        self.nodes: dict[str, dict] = {}
        self.node_metrics: dict[str, dict] | None = {}  # None: metrics API not installed
        self.forbidden_resources: set[str] = set()  # e.g. {"nodes"}: the account may not read them (403)
        self.logs: dict[tuple[str, str, bool], str] = {}
        self.forbidden = False
        self.delay = 0.0
        self.ignore_selectors = False  # answer as if the server ignored labelSelector
        self.requests: list[dict] = []  # every request: method, path, query, body

    # Routing -------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, object, str]:
        self.requests.append({"method": method, "path": path, "query": query, "body": body})
        if self.delay:
            time.sleep(self.delay)
        if path == "/version":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.4"}, "application/json"
        if self.forbidden:
            return 403, status_body(403, "Forbidden", f'{path} is forbidden: User "system:serviceaccount:ops:orion" '
                                    "cannot list resource"), "application/json"  # fmt: skip
        ns = self.namespace
        for resource in self.forbidden_resources:
            if f"/{resource}" in path:
                scope = "at the cluster scope" if "/namespaces/" not in path else f'in the namespace "{ns}"'
                group = path.split("/")[2] if path.startswith("/apis/") else ""
                return 403, status_body(403, "Forbidden", f'{resource} is forbidden: User "system:serviceaccount:'
                                        f'orion-ops:orion-ops" cannot get resource "{resource}" in API group '
                                        f'"{group}" {scope}'), "application/json"  # fmt: skip
        selector = "" if self.ignore_selectors else query.get("labelSelector", [""])[0]
        core, apps = f"/api/v1/namespaces/{ns}", f"/apis/apps/v1/namespaces/{ns}"
        if path == f"{core}/pods":
            return (
                200,
                self._list(
                    "PodList", "v1", [p for p in self.pods if _matches(p["metadata"].get("labels", {}), selector)]
                ),
                "application/json",
            )
        if path.startswith(f"{core}/pods/") and path.endswith("/log"):
            name = path.split("/")[-2]
            container = query.get("container", [""])[0]
            previous = query.get("previous", ["false"])[0] == "true"
            waiting = self._waiting(name, container)
            if waiting and not previous:
                return (
                    400,
                    status_body(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                f"{waiting}"),
                    "application/json",
                )  # fmt: skip
            text = self.logs.get((name, container, previous))
            if text is None:
                if previous:
                    return (
                        400,
                        status_body(
                            400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found'
                        ),
                        "application/json",
                    )
                text = ""
            tail = int(query.get("tailLines", ["0"])[0] or 0)
            lines = text.splitlines()
            if tail:
                lines = lines[-tail:]
            body = "\n".join(lines) + ("\n" if lines else "")
            limit = int(query.get("limitBytes", ["0"])[0] or 0)
            return 200, body.encode()[:limit].decode(errors="ignore") if limit else body, "text/plain"
        if path == f"{core}/events":
            return 200, self._list("EventList", "v1", self.events), "application/json"
        if path == f"{core}/services":
            return 200, self._list("ServiceList", "v1", self.services), "application/json"
        if path.startswith(f"{core}/endpoints/"):
            name = path.rsplit("/", 1)[-1]
            if name not in self.endpoints:
                return 404, status_body(404, "NotFound", f'endpoints "{name}" not found'), "application/json"
            return 200, self.endpoints[name], "application/json"
        if path.startswith(f"{apps}/deployments/"):
            rest = path[len(f"{apps}/deployments/") :]
            name, _, sub = rest.partition("/")
            deployment = self.deployments.get(name)
            if deployment is None:
                return 404, status_body(404, "NotFound", f'deployments.apps "{name}" not found'), "application/json"
            if sub == "scale":
                if method == "PATCH":
                    deployment["spec"]["replicas"] = body["spec"]["replicas"]
                return 200, self._scale(deployment), "application/json"
            if method == "PATCH":
                annotations = body.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
                template = deployment["spec"]["template"].setdefault("metadata", {})
                template.setdefault("annotations", {}).update(annotations)
            return 200, deployment, "application/json"
        if path == f"{apps}/replicasets":
            return (
                200,
                self._list(
                    "ReplicaSetList",
                    "apps/v1",
                    [r for r in self.replicasets if _matches(r["metadata"].get("labels", {}), selector)],
                ),
                "application/json",
            )
        if path == f"/apis/batch/v1/namespaces/{ns}/jobs":
            items = [j for j in self.jobs if _matches(j["metadata"].get("labels", {}), selector)]
            return 200, self._list("JobList", "batch/v1", items), "application/json"
        if path == "/api/v1/nodes":
            return 200, self._list("NodeList", "v1", list(self.nodes.values())), "application/json"
        if path.startswith("/api/v1/nodes/"):
            name = path.rsplit("/", 1)[-1]
            if name not in self.nodes:
                return 404, status_body(404, "NotFound", f'nodes "{name}" not found'), "application/json"
            return 200, self.nodes[name], "application/json"
        if path.startswith("/apis/metrics.k8s.io/v1beta1/nodes/"):
            name = path.rsplit("/", 1)[-1]
            if self.node_metrics is None:
                return (
                    404,
                    status_body(404, "NotFound", "the server could not find the requested resource"),
                    "application/json",
                )
            if name not in self.node_metrics:
                return (
                    404,
                    status_body(404, "NotFound", f'nodemetrics.metrics.k8s.io "{name}" not found'),
                    ("application/json"),
                )
            return 200, self.node_metrics[name], "application/json"
        if path == f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers":
            return 200, self._list("HorizontalPodAutoscalerList", "autoscaling/v2", self.hpas), "application/json"
        if path == f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods":
            if self.pod_metrics is None:
                return (
                    404,
                    status_body(404, "NotFound", "the server could not find the requested resource"),
                    "application/json",
                )
            items = [m for m in self.pod_metrics if _matches(m["metadata"].get("labels", {}), selector)]
            return (
                200,
                {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items},
                "application/json",
            )
        return 404, status_body(404, "NotFound", "the server could not find the requested resource"), "application/json"

    def _waiting(self, pod_name: str, container: str) -> str:
        """The reason a container of a pod waits to start ("PodInitializing", …), or ""."""
        for pod in self.pods:
            if pod["metadata"]["name"] != pod_name:
                continue
            status = pod.get("status", {})
            for entry in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
                if entry["name"] == container:
                    waiting = entry.get("state", {}).get("waiting")
                    return (waiting.get("reason") or "ContainerCreating") if waiting is not None else ""
        return ""

    @staticmethod
    def _list(kind: str, api_version: str, items: list) -> dict:
        return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1000"}, "items": items}

    @staticmethod
    def _scale(deployment: dict) -> dict:
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": deployment["metadata"]["name"], "namespace": deployment["metadata"]["namespace"]},
            "spec": {"replicas": deployment["spec"]["replicas"]},
            "status": {"replicas": deployment["status"].get("replicas", 0), "selector": "app=task-service"},
        }


class KubeApiServer:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        cluster_ref = cluster

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, payload, content_type = cluster_ref.handle(method, parsed.path, parse_qs(parsed.query), body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_PATCH(self):  # noqa: N802
                self._serve("PATCH")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path, *, context: str = "prod") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "loopback", "cluster": {"server": self.url}}],
                    "users": [{"name": "orion", "user": {"token": "orion-readonly-token"}}],
                    "contexts": [
                        {
                            "name": context,
                            "context": {"cluster": "loopback", "user": "orion", "namespace": "orion-prod"},
                        },
                        {"name": "other", "context": {"cluster": "loopback", "user": "orion"}},
                    ],
                    "current-context": "other",
                }
            )
        )
        return path
