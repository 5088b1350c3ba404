"""End to end: filing an incident for a service with a Kubernetes target puts the collector's findings on its timeline.

A real Celery worker process runs the Kubernetes collector with the real
`kubernetes` client against the loopback API server of tests/kube_api.py
(running in this process; the worker reads the kubeconfig path from the
target's config).
"""

import pytest

from diagnostics.models import DiagnosticRun, Target
from incidents.models import Incident, TimelineEntry, TimelineKind
from tests.conftest import wait_for
from tests.diagnostics import k8s_objects as k
from tests.diagnostics.test_kubernetes import healthy
from tests.factories import IncidentFactory, ServiceFactory
from tests.kube_api import Cluster, KubeApiServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CRASHING = "task-service-7d9f4c8b9-abc12"


def crashlooping_cluster() -> Cluster:
    """The seed's story: the database refuses connections, a pod crash-loops, the autoscaler is at its maximum."""
    cluster = Cluster()
    healthy(cluster)
    cluster.pods[0] = k.pod(CRASHING, statuses=[k.container_status(
        ready=False, restarts=7,
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"},
        terminated_last={"reason": "Error", "exitCode": 1, "startedAt": "2026-11-20T11:20:00Z",
                         "finishedAt": "2026-11-20T11:20:03Z"},
    )])  # fmt: skip
    cluster.logs[(CRASHING, "app", True)] = "\n".join(
        [
            "2026-11-20T11:20:01.000Z INFO task-service starting on :3000",
            "2026-11-20T11:20:02.120Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
            "2026-11-20T11:20:02.500Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
            "2026-11-20T11:20:03.000Z ERROR fatal: cannot start without the database",
        ]
    )
    cluster.events.append(k.event(CRASHING, "BackOff", "Back-off restarting failed container app in pod", count=7))
    cluster.hpas = [k.hpa(current=10, desired=10, maximum=10, limited=True)]
    cluster.pod_metrics[1] = k.pod_metrics("task-service-7d9f4c8b9-def34", "950m", "200Mi")
    return cluster


def test_incident_gets_kubernetes_findings_through_the_worker(celery_worker_process, tmp_path):
    cluster = crashlooping_cluster()
    with KubeApiServer(cluster) as server:
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        service = ServiceFactory(slug="task-service")
        Target.objects.create(
            service=service, kind="kubernetes", name="task-service",
            config={"kubeconfig": str(kubeconfig), "context": "prod", "namespace": "orion-prod",
                    "selector": "app=task-service", "deployment": "task-service", "actions": False},
        )  # fmt: skip
        incident = IncidentFactory(title="Task API 5xx", severity="P1", services=[service])
        run = wait_for(
            lambda: DiagnosticRun.objects.filter(incident=incident, attached_at__isnull=False).first(),
            timeout=60,
            message="the Kubernetes run to finish and reach the timeline",
        )

    assert run.collector == "kubernetes" and run.trigger == "incident_created"
    assert run.status == "succeeded" and run.attempts == 1 and run.error == ""
    by_check = {}
    for finding in run.findings:
        by_check.setdefault(finding["check"], []).append(finding)
    assert {"kubernetes.pods", "kubernetes.events", "kubernetes.top", "kubernetes.hpa"} <= set(by_check)

    (crash,) = [f for f in by_check["kubernetes.pods"] if f["subject"] == CRASHING]
    assert crash["status"] == "crit" and "CrashLoopBackOff" in crash["summary"]
    assert "after 7 restarts; last exit Error (code 1, the application exited with an error)" in crash["summary"]
    assert crash["evidence"]["data"]["decisive_line"] == "Error: connect ECONNREFUSED 10.0.3.4:5432"
    (refused,) = by_check["kubernetes.logs.pattern.econnrefused"]
    assert refused["status"] == "crit" and refused["subject"] == "10.0.3.4:5432"
    assert "--previous" in refused["evidence"]["query"]
    (events,) = by_check["kubernetes.events"]
    assert events["status"] == "warn" and "BackOff" in events["summary"]
    (top,) = by_check["kubernetes.top"]
    assert top["status"] == "crit" and "950m CPU of its 1000m limit" in top["summary"]
    (hpa,) = by_check["kubernetes.hpa"]
    assert hpa["status"] == "warn" and hpa["summary"] == "task-service at its maximum: 10 of max 10 replicas"

    # The worker used the real client over HTTP: a label-selected pod list and the crashed container's previous log.
    pod_lists = [r for r in cluster.requests if r["path"] == "/api/v1/namespaces/orion-prod/pods"]
    assert pod_lists and pod_lists[0]["query"]["labelSelector"] == ["app=task-service"]
    logs = [r for r in cluster.requests if r["path"].endswith(f"/pods/{CRASHING}/log")]
    assert logs and logs[0]["query"]["previous"] == ["true"]
    assert not [r for r in cluster.requests if r["method"] != "GET"]  # diagnostics only read

    (entry,) = TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.DIAGNOSTIC)
    assert entry.text.startswith("Kubernetes diagnostics of task-service: crit — ")
    assert entry.actor_kind == "system" and entry.data["run_id"] == run.pk
    assert entry.data["target"] == {"kind": "kubernetes", "name": "task-service"}
    top_checks = {t["check"] for t in entry.data["top"]}
    assert {"kubernetes.pods", "kubernetes.logs.pattern.econnrefused"} <= top_checks
    assert Incident.objects.get(pk=incident.pk).status == "detected"
