"""Kubernetes objects as the API serves them (v1 Pod, Event, apps/v1 Deployment, …)."""

NS = "orion-prod"
LABELS = {"app": "task-service", "pod-template-hash": "7d9f4c8b9"}
T = "2026-11-20T11:00:00Z"


def container_status(name="app", *, ready=True, restarts=0, waiting=None, terminated_last=None, running=True):
    state = {"running": {"startedAt": "2026-11-20T11:05:00Z"}} if running and not waiting else {}
    if waiting:
        state = {"waiting": waiting}
    status = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "image": "registry.example.com/orion/task-service:1.42.0",
        "imageID": "",
        "started": ready,
        "state": state,
        "lastState": {"terminated": terminated_last} if terminated_last else {},
    }
    return status


def pod(name, *, phase="Running", statuses=None, labels=None, reason=None, message=None, conditions=None,
        cpu_limit="1", memory_limit="512Mi", cpu_request="250m"):  # fmt: skip
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "labels": dict(LABELS if labels is None else labels),
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "task-service-7d9f4c8b9",
                    "uid": "rs-1",
                    "controller": True,
                }
            ],  # fmt: skip
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/orion/task-service:1.42.0",
                    "resources": {
                        "limits": {"cpu": cpu_limit, "memory": memory_limit},
                        "requests": {"cpu": cpu_request, "memory": "256Mi"},
                    },
                }
            ],
        },
        "status": {
            "phase": phase,
            "conditions": conditions
            or [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": statuses if statuses is not None else [container_status()],
        },
    }
    if any(c["type"] == "PodScheduled" and c["status"] == "False" for c in body["status"]["conditions"]):
        del body["spec"]["nodeName"]  # the scheduler found no node: it never got one
    if reason:
        body["status"]["reason"] = reason
    if message:
        body["status"]["message"] = message
    return body


def event(obj_name, reason, message, *, type_="Warning", kind="Pod", count=1, last=T):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj_name}.{reason.lower()}", "namespace": NS, "creationTimestamp": last},
        "involvedObject": {"kind": kind, "name": obj_name, "namespace": NS},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": last,
        "lastTimestamp": last,
        "source": {"component": "kubelet"},
    }


def deployment(name="task-service", *, replicas=3, ready=3, available=3, updated=3, progressing=None):
    conditions = [
        {"type": "Available", "status": "True" if available else "False", "reason": "MinimumReplicasAvailable"}
    ]
    conditions.append(progressing or {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "uid": "dep-1", "labels": {"app": "task-service"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "task-service"}},
            "template": {
                "metadata": {"labels": {"app": "task-service"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/orion/task-service:1.42.0"}]},
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": available,
            "updatedReplicas": updated,
            "conditions": conditions,
        },
    }


def replicaset(name, image, created, *, replicas=3):
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": "task-service"},
            "creationTimestamp": created,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "task-service",
                    "uid": "dep-1",
                    "controller": True,
                }
            ],  # fmt: skip
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "task-service"}},
            "template": {
                "metadata": {"labels": {"app": "task-service"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"replicas": replicas},
    }


def hpa(*, current=10, desired=10, minimum=2, maximum=10, limited=True, active=True):
    conditions = [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True" if active else "False",
         "reason": "ValidMetricFound" if active else "FailedGetResourceMetric",
         "message": "" if active else "unable to get metrics for resource cpu: no metrics returned from resource metrics API"},
        {"type": "ScalingLimited", "status": "True" if limited else "False",
         "reason": "TooManyReplicas" if limited else "DesiredWithinRange"},
    ]  # fmt: skip
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "task-service", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "task-service"},
            "minReplicas": minimum,
            "maxReplicas": maximum,
        },
        "status": {"currentReplicas": current, "desiredReplicas": desired, "conditions": conditions},
    }


def service():
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "task-service", "namespace": NS},
        "spec": {"selector": {"app": "task-service"}, "ports": [{"port": 80, "targetPort": 3000}]},
    }


def endpoints(ready: int, not_ready: int = 0):
    subset = {"ports": [{"port": 3000}]}
    if ready:
        subset["addresses"] = [{"ip": f"10.244.1.{i + 10}"} for i in range(ready)]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": f"10.244.2.{i + 10}"} for i in range(not_ready)]
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "task-service", "namespace": NS},
        "subsets": [subset],
    }


def pod_metrics(name, cpu, memory, labels=None):
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "namespace": NS, "labels": dict(LABELS if labels is None else labels)},
        "timestamp": T,
        "window": "30s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }


def init_status(name="migrate", *, waiting=None, running=None, terminated=None, last=None, restarts=0):
    """An initContainerStatuses entry: waiting, running (since), or terminated."""
    state = {}
    if waiting:
        state = {"waiting": waiting}
    elif running:
        state = {"running": {"startedAt": running}}
    elif terminated:
        state = {"terminated": terminated}
    return {
        "name": name,
        "ready": bool(terminated and terminated.get("exitCode") == 0),
        "restartCount": restarts,
        "image": "registry.example.com/orion/task-service:1.42.0",
        "imageID": "",
        "started": bool(running),
        "state": state,
        "lastState": {"terminated": last} if last else {},
    }


def with_init(body, statuses, *, phase="Pending", main_waiting="PodInitializing"):
    """A pod whose init containers have not all finished: the main container waits (PodInitializing)."""
    body["spec"]["initContainers"] = [
        {"name": s["name"], "image": "registry.example.com/orion/task-service:1.42.0"} for s in statuses
    ]
    body["status"]["phase"] = phase
    body["status"]["initContainerStatuses"] = statuses
    if main_waiting:
        body["status"]["containerStatuses"] = [container_status(ready=False, waiting={"reason": main_waiting})]
    body["status"]["conditions"] = [
        {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"},
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"},
    ]
    return body


def terminated(exit_code, reason="Error", message=None):
    body = {"exitCode": exit_code, "reason": reason, "startedAt": "2026-11-20T11:20:00Z",
            "finishedAt": "2026-11-20T11:20:03Z"}  # fmt: skip
    if message:
        body["message"] = message
    return body


def job(name, *, failed=0, succeeded=0, condition=None, labels=None, backoff_limit=4, template_labels=None):
    conditions = []
    if condition:
        reason, message = condition
        conditions = [
            {"type": "FailureTarget" if reason != "Complete" else "SuccessCriteriaMet", "status": "True",
             "reason": reason, "message": message},
            {"type": "Failed" if reason != "Complete" else "Complete", "status": "True", "reason": reason,
             "message": message, "lastTransitionTime": T},
        ]  # fmt: skip
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"job-{name}",
            "labels": dict(labels or {}),
            "creationTimestamp": "2026-11-20T11:00:00Z",
        },  # fmt: skip
        "spec": {
            "backoffLimit": backoff_limit,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": dict(template_labels or {})},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "x"}]},
            },
        },
        "status": {"failed": failed, "succeeded": succeeded, "conditions": conditions},
    }


def job_pod(name, job_name, *, exit_code=1, message=None, labels=None):
    """A pod of a Job whose one container has ended (restartPolicy Never)."""
    body = pod(name, phase="Failed" if exit_code else "Succeeded",
               labels={"job-name": job_name, "batch.kubernetes.io/job-name": job_name, **(labels or {})})  # fmt: skip
    body["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                            "uid": f"job-{job_name}", "controller": True}]  # fmt: skip
    body["spec"]["restartPolicy"] = "Never"
    body["spec"]["containers"][0]["name"] = "migrate"
    body["status"]["conditions"] = [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
    body["status"]["containerStatuses"] = [
        {"name": "migrate", "ready": False, "restartCount": 0, "image": "x", "imageID": "", "started": False,
         "state": {"terminated": terminated(exit_code, "Error" if exit_code else "Completed", message)},
         "lastState": {}}
    ]  # fmt: skip
    return body


def node(name="node-a", *, ready="True", pressure=(), cpu="4", memory="16Gi", ready_message=None):
    messages = {
        "MemoryPressure": "kubelet has insufficient memory available",
        "DiskPressure": "kubelet has disk pressure",
        "PIDPressure": "kubelet has insufficient PID available",
        "NetworkUnavailable": "RouteController failed to create a route",
    }
    conditions = []
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        on = kind in pressure
        conditions.append({"type": kind, "status": "True" if on else "False",
                           "reason": f"KubeletHas{'Insufficient' if on else 'No'}{kind.replace('Pressure', '')}",
                           "message": messages[kind] if on else f"kubelet has no {kind.lower()}",
                           "lastTransitionTime": T})  # fmt: skip
    conditions.append({"type": "Ready", "status": ready,
                       "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                       "message": ready_message or ("kubelet is posting ready status" if ready == "True"
                                                    else "Kubelet stopped posting node status."),
                       "lastTransitionTime": T})  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": conditions,
        },
    }


def node_metrics(name, cpu, memory):
    return {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "timestamp": T,
        "window": "20.025s",
        "usage": {"cpu": cpu, "memory": memory},
    }
