"""End to end through the real collectors and a real worker: the likely cause of an incident.

The pool-exhaustion scenario: the scratch PostgreSQL cluster at 94 % of its usable slots (16 of 17),
Prometheus (promtool-backfilled) showing the 5xx ratio jump to 8 % when the incident starts, and
pods on the loopback Kubernetes API whose logs show Prisma P2024 pool timeouts. The healthy
scenario: the same three collectors see a calm service. The worker recomputes the hypotheses
after each run reaches the timeline; the API and the page show the result.
"""

from datetime import UTC, datetime, timedelta

import pytest

from diagnostics.models import DiagnosticRun, IncidentHypotheses, Target
from incidents.models import TimelineKind
from tests.conftest import wait_for
from tests.diagnostics import k8s_objects as k
from tests.diagnostics.test_kubernetes import healthy
from tests.factories import IncidentFactory, ServiceFactory
from tests.kube_api import Cluster, KubeApiServer
from tests.prometheus_server import PrometheusServer, openmetrics

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

NOW = datetime.now(UTC).replace(microsecond=0)
DETECTED = NOW - timedelta(minutes=40)
P2024 = (
    "{ts} prisma:error Invalid `prisma.task.findMany()` invocation: Timed out fetching a new connection from the "
    "connection pool. More info: http://pris.ly/d/connection-pool (Current connection pool timeout: 10, "
    "connection limit: 5) code: P2024"
)


def _counter(before: float, after: float, switch: float):
    return lambda t: before * min(t, switch) + after * max(0.0, t - switch)


@pytest.fixture(scope="module")
def scenario_prometheus(tmp_path_factory):
    """task-service's 5xx ratio jumps from 0.2 % to 8 % at detection; calm-service stays at 0.1 %."""
    start = NOW - timedelta(hours=3)
    switch = (DETECTED - start).total_seconds()
    series = [
        ("http_requests_total", {"service": "task-service", "status": "200"}, _counter(100, 92, switch)),
        ("http_requests_total", {"service": "task-service", "status": "500"}, _counter(0.2, 8.0, switch)),
        ("http_requests_total", {"service": "calm-service", "status": "200"}, _counter(50, 50, switch)),
        ("http_requests_total", {"service": "calm-service", "status": "500"}, _counter(0.05, 0.05, switch)),
    ]
    document = openmetrics(series, start=start, end=NOW - timedelta(minutes=1), step=15)
    with PrometheusServer(tmp_path_factory.mktemp("prometheus-causes"), document) as server:
        yield server


def pool_timeout_cluster() -> Cluster:
    """Running pods (one restarted once) whose logs are full of P2024."""
    cluster = Cluster()
    healthy(cluster)
    name = cluster.pods[0]["metadata"]["name"]
    cluster.pods[0] = k.pod(name, statuses=[k.container_status(restarts=1)])
    at = (DETECTED + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    lines = [f"{at} INFO task-service listening on :3000"] + [P2024.format(ts=at) for _ in range(12)]
    for previous in (False, True):
        cluster.logs[(name, "app", previous)] = "\n".join(lines)
    return cluster


def targets_for(service, *, kubeconfig, prometheus, labels):
    Target.objects.create(service=service, kind="postgres", name=f"{service.slug}-db",
                          config={"dsn_env": "ORION_TARGET_TEST_PG_DSN"})  # fmt: skip
    Target.objects.create(service=service, kind="prometheus", name=f"{service.slug}-metrics",
                          config={"url": prometheus.url, "labels": labels})  # fmt: skip
    Target.objects.create(
        service=service, kind="kubernetes", name=service.slug,
        config={"kubeconfig": str(kubeconfig), "context": "prod", "namespace": "orion-prod",
                "selector": "app=task-service", "deployment": "task-service", "actions": False},
    )  # fmt: skip


def recomputed_after_every_run(incident):
    runs = list(DiagnosticRun.objects.filter(incident=incident))
    if len(runs) < 3 or any(run.attached_at is None for run in runs):
        return None
    row = IncidentHypotheses.objects.filter(incident=incident).first()
    if row is None or row.computed_at is None or row.computed_at < max(run.attached_at for run in runs):
        return None
    return row


def test_pool_exhaustion_is_the_top_likely_cause(
    celery_worker_process, scratch_pg, held_sessions, scenario_prometheus, tmp_path, viewer_api, client, viewer
):
    for _ in range(15):  # with the collector's own session: 16 of 17 usable slots, 94 %
        held_sessions.open(application_name="task-service-pool")
    with KubeApiServer(pool_timeout_cluster()) as kube:
        service = ServiceFactory(slug="task-service")
        targets_for(service, kubeconfig=kube.kubeconfig(tmp_path / "kubeconfig"), prometheus=scenario_prometheus,
                    labels={"service": "task-service"})  # fmt: skip
        incident = IncidentFactory(title="Task API 5xx", severity="P2", services=[service], detected_at=DETECTED)
        row = wait_for(lambda: recomputed_after_every_run(incident), timeout=120, message="the hypotheses")

    statuses = {run.collector: run.status for run in DiagnosticRun.objects.filter(incident=incident)}
    assert statuses == {"postgres": "succeeded", "prometheus": "succeeded", "kubernetes": "succeeded"}
    top = row.hypotheses[0]
    assert top["key"] == "pool_exhausted", row.hypotheses
    assert top["runbook"] == "db-connection-pool-exhausted"
    assert top["confidence"] >= 0.8
    assert "94 %" in top["title"] and "16 of 17" in top["title"]
    checks = {link["check"] for link in top["evidence"]}
    assert {"postgres.connection_saturation", "kubernetes.logs.pattern.prisma_p2024", "prometheus.error_rate"} <= checks

    body = viewer_api.get(f"/api/v1/incidents/{incident.pk}/hypotheses/").json()
    assert body["hypotheses"][0]["key"] == "pool_exhausted" and body["hypotheses"][0]["rank"] == 1
    (entry,) = incident.timeline.filter(kind=TimelineKind.HYPOTHESIS)
    assert "Connection pool exhausted" in entry.text
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    panel = page[page.index('id="panel-likely-causes-body"') :]
    assert "Connection pool exhausted" in panel[: panel.index("</section>")]


def test_a_healthy_service_has_no_likely_cause_above_three_tenths(
    celery_worker_process, scratch_pg, scenario_prometheus, tmp_path, viewer_api
):
    cluster = Cluster()
    healthy(cluster)
    with KubeApiServer(cluster) as kube:
        service = ServiceFactory(slug="calm-service")
        targets_for(service, kubeconfig=kube.kubeconfig(tmp_path / "kubeconfig"), prometheus=scenario_prometheus,
                    labels={"service": "calm-service"})  # fmt: skip
        incident = IncidentFactory(title="Calm check", severity="P3", services=[service], detected_at=DETECTED)
        row = wait_for(lambda: recomputed_after_every_run(incident), timeout=120, message="the hypotheses")

    assert all(run.status == "succeeded" for run in DiagnosticRun.objects.filter(incident=incident))
    assert all(h["confidence"] <= 0.3 for h in row.hypotheses), row.hypotheses
    body = viewer_api.get(f"/api/v1/incidents/{incident.pk}/hypotheses/").json()
    assert body["computed_at"] is not None
    assert all(h["confidence"] <= 0.3 for h in body["hypotheses"])
    assert not incident.timeline.filter(kind=TimelineKind.HYPOTHESIS).exists()
