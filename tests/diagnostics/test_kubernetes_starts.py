"""Why pods do not start or do not finish: init containers, Jobs, pulls, missing config, scheduling, quotas.

The real client against the loopback API server; each class with several
realistic variants, and near-misses that must stay quiet.
"""

import pytest

from diagnostics.collectors import kubernetes as kc
from tests.diagnostics import k8s_objects as k
from tests.diagnostics.test_kubernetes import WINDOW, healthy, run, target

NEW = "task-service-5b6c7d8e9-new01"


def crit(findings, check="kubernetes.pods"):
    return [f for f in findings if f.check == check and f.status == "crit"]


# Init containers ------------------------------------------------------------------------


def test_init_container_in_crash_loop_names_its_exit_and_log_line(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.with_init(k.pod(NEW), [
        k.init_status("migrate", waiting={"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"},
                      restarts=3, last=k.terminated(1)),
    ]))  # fmt: skip
    cluster.logs[(NEW, "migrate", True)] = "\n".join(
        ["Running migrations", "Traceback (most recent call last):", '  File "/app/manage.py", line 22, in <module>',
         "KeyError: 'DATABASE_URL'"]
    )  # fmt: skip
    (finding,) = crit(run(kube, "pods"), "kubernetes.pods.init")
    assert finding.subject == NEW
    assert finding.summary == (
        f"{NEW}: init container migrate in CrashLoopBackOff after 3 restarts; last exit code 1 "
        "(the application exited with an error): KeyError: 'DATABASE_URL'"
    )
    data = finding.evidence.data
    assert (data["problem"], data["container"], data["exit_code"]) == ("crash_loop", "migrate", 1)
    assert data["decisive_line"] == "KeyError: 'DATABASE_URL'"


def test_init_container_that_exited_with_restart_policy_never(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.with_init(k.pod(NEW), [k.init_status("fetch-config", terminated=k.terminated(2))],
                                    phase="Failed"))  # fmt: skip
    cluster.logs[(NEW, "fetch-config", False)] = "curl: (22) The requested URL returned error: 404\nexit status 2"
    (finding,) = crit(run(kube, "pods"), "kubernetes.pods.init")
    assert finding.evidence.data["problem"] == "exited" and finding.evidence.data["exit_code"] == 2
    assert "init container fetch-config exited with code 2" in finding.summary


def test_init_container_waiting_for_a_dependency_too_long(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.with_init(k.pod(NEW), [k.init_status("wait-for-db", running="2026-11-20T11:10:00Z")]))
    cluster.logs[(NEW, "wait-for-db", False)] = "waiting for db\nnslookup: can't resolve 'db'\nwaiting for db"
    (finding,) = [f for f in run(kube, "pods") if f.check == "kubernetes.pods.init"]
    assert finding.status == "warn" and finding.evidence.data["problem"] == "waiting"
    assert finding.summary == (
        f"{NEW}: init container wait-for-db still running after 20 min: the pod waits for it; "
        "its last log line: nslookup: can't resolve 'db'"
    )


def test_init_containers_that_finished_or_just_started_are_quiet(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.with_init(k.pod(NEW), [
        k.init_status("migrate", terminated=k.terminated(0, "Completed")),
        k.init_status("warm-cache", running="2026-11-20T11:29:00Z"),
    ]))  # fmt: skip
    findings = run(kube, "pods")
    assert not [f for f in findings if f.status in ("crit", "warn") and f.subject == NEW and
                f.check == "kubernetes.pods.init"]  # fmt: skip
    assert not [f for f in findings if "PodInitializing" in f.summary]


# Jobs and exited pods -------------------------------------------------------------------


def test_failed_job_with_the_exit_code_and_log_line_of_its_pod(kube, cluster):
    healthy(cluster)
    cluster.jobs = [k.job("task-service-migrate", failed=5, condition=(
        "BackoffLimitExceeded", "Job has reached the specified backoff limit"))]  # fmt: skip
    pod = "task-service-migrate-x7k2p"
    cluster.pods.append(k.job_pod(pod, "task-service-migrate", exit_code=1))
    cluster.logs[(pod, "migrate", False)] = (
        "Error: P3009: migrate found failed migrations in the target database\nnpm ERR! code ELIFECYCLE"
    )
    (finding,) = run(kube, "jobs")
    assert finding.status == "crit" and finding.subject == "task-service-migrate"
    assert finding.summary == (
        "Job task-service-migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit; pod "
        f"{pod} exited with code 1 (the application exited with an error): Error: P3009: migrate found failed "
        "migrations in the target database"
    )
    data = finding.evidence.data
    assert (data["reason"], data["failed"], data["pod"], data["exit_code"]) == ("BackoffLimitExceeded", 5, pod, 1)


def test_job_found_by_its_labels_and_still_retrying(kube, cluster):
    healthy(cluster)
    cluster.jobs = [k.job("nightly-report", failed=2, labels={"app": "task-service"})]
    pod = "nightly-report-abcde"
    cluster.pods.append(k.job_pod(pod, "nightly-report", exit_code=137))
    (finding,) = run(kube, "jobs")
    assert finding.status == "warn"
    assert finding.summary.startswith("Job nightly-report: 2 pods failed so far (backoffLimit 4); pod "
                                      f"{pod} exited with code 137 (killed by SIGKILL")  # fmt: skip


def test_completed_and_unrelated_jobs_are_quiet(kube, cluster):
    healthy(cluster)
    cluster.jobs = [
        k.job("task-service-migrate", succeeded=1, condition=("Complete", "")),
        k.job("billing-migrate", failed=6, condition=("BackoffLimitExceeded", "Job has reached the backoff limit"),
              labels={"app": "billing"}),
    ]  # fmt: skip
    (finding,) = run(kube, "jobs")
    assert finding.status == "ok" and finding.summary == "1 Jobs, none failed"


def test_a_job_pod_that_exited_non_zero_is_a_failure_not_running_and_ready(kube, cluster):
    healthy(cluster)
    pod = "task-service-seed-q8w9e"
    cluster.pods.append(k.job_pod(pod, "task-service-seed", exit_code=1, labels={"app": "task-service"},
                                  message="seed: relation \"tasks\" does not exist"))  # fmt: skip
    (finding,) = crit(run(kube, "pods"))
    assert finding.subject == pod and finding.evidence.data["problem"] == "exited"
    assert finding.summary == (
        f"{pod}/migrate exited with code 1 (the application exited with an error) (Error): seed: relation "
        '"tasks" does not exist'
    )


def test_a_completed_job_pod_is_not_trouble(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.job_pod("task-service-seed-ok123", "task-service-seed", exit_code=0,
                                  labels={"app": "task-service"}))  # fmt: skip
    (finding,) = run(kube, "pods")
    assert finding.status == "ok" and finding.summary == "All 3 pods running and ready (0 restarts); 1 completed"


# Controller events ----------------------------------------------------------------------

QUOTA = (
    'Error creating: pods "task-service-5b6c7d8e9-x2k4m" is forbidden: exceeded quota: compute-quota, requested: '
    "limits.cpu=1,limits.memory=512Mi, used: limits.cpu=4,limits.memory=2Gi, limited: limits.cpu=4,limits.memory=2Gi"
)


def test_quota_refused_failed_create_leaves_no_pod_and_is_found(kube, cluster):
    healthy(cluster)
    cluster.pods = []
    cluster.events = [
        k.event("task-service-5b6c7d8e9", "FailedCreate", QUOTA, kind="ReplicaSet", count=14),
        k.event("task-service", "ScalingReplicaSet", "Scaled up replica set task-service-5b6c7d8e9 to 3",
                type_="Normal", kind="Deployment"),
    ]  # fmt: skip
    findings = kc.KubernetesCollector().collect(target(kube), WINDOW)
    (pods,) = [f for f in findings if f.check == "kubernetes.pods"]
    assert pods.status == "crit" and pods.evidence.data["problem"] == "no_pods"
    (created,) = [f for f in findings if f.check == "kubernetes.failed_create"]
    assert created.status == "crit" and created.subject == "ReplicaSet/task-service-5b6c7d8e9"
    assert created.evidence.data["cause"] == "quota" and created.evidence.data["quota"] == "compute-quota"
    assert created.summary.endswith(QUOTA)
    (events,) = [f for f in findings if f.check == "kubernetes.events"]
    assert events.summary.endswith(f"deciding: FailedCreate on ReplicaSet/task-service-5b6c7d8e9: {QUOTA}")


def test_the_deciding_event_is_the_telling_one_in_full_not_the_latest_cut(kube, cluster):
    healthy(cluster)
    pending = "task-service-7d9f4c8b9-pvc01"
    long_message = (
        'failed to provision volume with StorageClass "fast-ssd": rpc error: code = InvalidArgument desc = '
        'storageclass.storage.k8s.io "fast-ssd" not found; waiting for a volume to be created either by the '
        "external provisioner 'ebs.csi.aws.com' or manually by the system administrator"
    )
    cluster.events += [
        k.event("data-task-service-0", "ProvisioningFailed", long_message, kind="PersistentVolumeClaim"),
        k.event(pending, "FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "task-config" not '
                "found", last="2026-11-20T11:05:00Z"),
        k.event("task-service-7d9f4c8b9-abc12", "Unhealthy", "Readiness probe failed: Get \"http://10.244.1.5:3000/"
                'ready": dial tcp 10.244.1.5:3000: connect: connection refused', last="2026-11-20T11:25:00Z"),
    ]  # fmt: skip
    (events,) = run(kube, "events")
    assert len(events.summary) > 120
    assert events.summary.endswith(
        f'deciding: FailedMount on Pod/{pending}: MountVolume.SetUp failed for volume "config" : configmap '
        '"task-config" not found'
    )
    assert events.evidence.data["deciding"]["reason"] == "FailedMount"
    # The table keeps every message whole; the PVC's event belongs to no part of the target.
    messages = [row[6] for row in events.evidence.table.rows]
    assert "Readiness probe failed: Get \"http://10.244.1.5:3000/ready\": dial tcp 10.244.1.5:3000: connect: " \
           "connection refused" in messages  # fmt: skip
    assert long_message not in messages


def test_job_events_count_as_the_services(kube, cluster):
    healthy(cluster)
    cluster.jobs = [k.job("task-service-migrate", failed=1)]
    cluster.events.append(k.event("task-service-migrate", "FailedCreate", 'Error creating: pods "task-service-'
                                  'migrate-" is forbidden: error looking up service account orion-prod/migrator: '
                                  'serviceaccount "migrator" not found', kind="Job"))  # fmt: skip
    events, created = run(kube, "events")
    assert "controller 1" in events.summary
    assert created.subject == "Job/task-service-migrate" and created.evidence.data["cause"] == "service_account"


# Pulls, config, start errors, scheduling ------------------------------------------------


@pytest.mark.parametrize(
    ("event_message", "pull", "words"),
    [
        ('Failed to pull image "registry.example.com/orion/task-service:1.43.0": rpc error: code = NotFound desc = '
         'failed to pull and unpack image "registry.example.com/orion/task-service:1.43.0": failed to resolve '
         'reference "registry.example.com/orion/task-service:1.43.0": registry.example.com/orion/task-service:1.43.0: '
         "not found", "not_found", "image or tag missing"),
        ('Failed to pull image "registry.example.com/orion/task-service:1.43.0": failed to pull and unpack image: '
         "failed to resolve reference: failed to authorize: failed to fetch oauth token: unexpected status: 401 "
         "Unauthorized", "unauthorized", "not authorised"),
        ('Failed to pull image "docker.io/acme/task-service:1.43.0": rpc error: code = Unknown desc = failed to pull '
         "and unpack image: pull access denied, repository does not exist or may require authorization: server "
         "message: insufficient_scope: authorization failed", "ambiguous",
         "missing or not authorised (the registry does not say which)"),
    ],
)  # fmt: skip
def test_image_pull_back_off_is_decided_from_the_kubelets_event(kube, cluster, event_message, pull, words):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-abc12"
    image = "registry.example.com/orion/task-service:1.42.0"
    cluster.pods[0] = k.pod(name, phase="Pending", statuses=[k.container_status(ready=False, waiting={
        "reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'})])  # fmt: skip
    cluster.events.append(k.event(name, "Failed", event_message))
    cluster.events.append(k.event(name, "BackOff", f'Back-off pulling image "{image}"', last="2026-11-20T11:29:00Z"))
    (finding,) = run(kube, "pods")
    assert finding.summary == f"{name}/app cannot pull {image}: {words}"
    assert finding.evidence.data["pull"] == pull and finding.evidence.data["message"] == event_message


def test_missing_config_map_key_is_named(kube, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-abc12"
    message = "couldn't find key DATABASE_URL in ConfigMap orion-prod/task-config"
    cluster.pods[0] = k.pod(name, phase="Pending", statuses=[k.container_status(
        ready=False, waiting={"reason": "CreateContainerConfigError", "message": message})])  # fmt: skip
    (finding,) = run(kube, "pods")
    assert finding.summary == f"{name}/app: CreateContainerConfigError: {message}"
    assert finding.evidence.data["missing"] == {"kind": "key", "name": "task-config", "key": "DATABASE_URL",
                                                "of": "configmap"}  # fmt: skip


def test_executable_not_found_at_start(kube, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-abc12"
    message = (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: "
        'unable to start container process: exec: "gunicorn": executable file not found in $PATH: unknown'
    )
    cluster.pods[0] = k.pod(name, statuses=[k.container_status(
        ready=False, waiting={"reason": "RunContainerError", "message": message})])  # fmt: skip
    (finding,) = run(kube, "pods")
    assert finding.status == "crit" and finding.evidence.data["problem"] == "start_error"
    assert "executable file not found" in finding.evidence.data["decisive_line"]


@pytest.mark.parametrize(
    ("message", "words", "reasons"),
    [
        ("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are "
         "available: 3 No preemption victims found for incoming pod.",
         "pod anti-affinity rules not met (3 nodes)", ["pod_anti_affinity"]),
        ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
         "insufficient nvidia.com/gpu (extended resource) (4 nodes)", ["extended_resource"]),
        ("0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims.",
         "PersistentVolumeClaim not bound (3 nodes)", ["volume_unbound"]),
        ("0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.",
         "insufficient memory (1 node), node affinity/selector matches no node (2 nodes)",
         ["memory", "node_affinity"]),
    ],
)  # fmt: skip
def test_unschedulable_pods_name_every_clause(kube, cluster, message, words, reasons):
    healthy(cluster)
    cluster.pods.append(k.pod(NEW, phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]))  # fmt: skip
    (finding,) = run(kube, "pods")
    assert finding.summary.startswith(f"{NEW} is Pending, unschedulable: {words} (0/")
    assert finding.evidence.data["scheduling"]["reasons"] == reasons
    assert finding.evidence.data["message"] == message


def test_pending_because_of_a_pressure_taint_points_at_the_condition(kube, cluster):
    healthy(cluster)
    message = "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }."
    cluster.pods.append(k.pod(NEW, phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]))  # fmt: skip
    cluster.events.append(k.event(NEW, "FailedScheduling", message))
    (finding,) = run(kube, "pods")
    assert finding.evidence.data["node_pressure"] == {"node": "", "condition": "MemoryPressure"}


# Services and autoscalers ----------------------------------------------------------------


def service(name, selector):
    body = k.service()
    body["metadata"]["name"] = name
    body["spec"]["selector"] = selector
    return body


def test_service_whose_selector_the_pods_do_not_match(kube, cluster):
    healthy(cluster)
    cluster.services = [service("task-service", {"app": "task-svc"})]
    cluster.endpoints["task-service"] = k.endpoints(0)
    (finding,) = run(kube, "endpoints")
    assert finding.check == "kubernetes.service_selector" and finding.status == "crit"
    assert finding.summary == (
        "Service task-service selects none of the target's pods, so it has no endpoints: it asks for app=task-svc "
        "(the pods have app=task-service)"
    )
    assert finding.evidence.data["mismatched"] == {"app": {"service": "task-svc", "pods": "task-service"}}


def test_service_asking_for_a_label_the_pods_lack(kube, cluster):
    healthy(cluster)
    cluster.services = [service("task-api", {"app": "task-service", "tier": "web"})]
    (finding,) = run(kube, "endpoints")
    assert finding.evidence.data["missing"] == ["tier"] and finding.evidence.data["mismatched"] == {}
    assert finding.summary.endswith("it asks for tier=web (the pods have no tier label)")


def test_unrelated_and_matching_services_stay_quiet(kube, cluster):
    healthy(cluster)
    cluster.services = [k.service(), service("billing", {"app": "billing"})]
    (finding,) = run(kube, "endpoints")
    assert finding.check == "kubernetes.endpoints" and finding.status == "ok"


def test_hpa_that_cannot_compute_its_metrics_says_why(kube, cluster):
    healthy(cluster)
    body = k.hpa(current=3, desired=3, limited=False, active=False)
    message = ("the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for "
               "cpu in container app of Pod task-service-7d9f4c8b9-abc12")  # fmt: skip
    body["status"]["conditions"][1]["message"] = message
    cluster.hpas = [body]
    replicas, metrics = run(kube, "hpa")
    assert replicas.status == "ok"
    assert metrics.summary.startswith("task-service cannot compute its metrics: a container sets no cpu request")
    assert metrics.evidence.data == {"hpa": "task-service", "reason": "FailedGetResourceMetric", "message": message,
                                     "cause": "missing_request", "metric": "cpu"}  # fmt: skip


def test_hpa_metric_events_count_when_the_condition_is_still_active(kube, cluster):
    healthy(cluster)
    cluster.events.append(k.event("task-service", "FailedGetResourceMetric", "failed to get memory utilization: "
                                  "unable to get metrics for resource memory: no metrics returned from resource "
                                  "metrics API", kind="HorizontalPodAutoscaler"))  # fmt: skip
    replicas, metrics = run(kube, "hpa")
    assert metrics.evidence.data["cause"] == "no_metrics" and metrics.evidence.data["metric"] == "memory"


def test_healthy_hpa_has_no_metrics_finding(kube, cluster):
    healthy(cluster)
    assert [f.check for f in run(kube, "hpa")] == ["kubernetes.hpa"]


@pytest.mark.parametrize(
    ("reason", "message", "missing"),
    [
        ("FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "task-config" not found',
         {"kind": "configmap", "name": "task-config", "key": "", "of": "configmap"}),
        ("FailedMount", 'MountVolume.SetUp failed for volume "tls" : secret "task-service-tls" not found',
         {"kind": "secret", "name": "task-service-tls", "key": "", "of": "secret"}),
        ("FailedAttachVolume", 'AttachVolume.Attach failed for volume "pvc-3f1e" : rpc error: code = Internal desc = '
         "Could not attach volume \"vol-0abc\" to node \"i-0def\": volume is in use",
         {"kind": "other", "name": "", "key": "", "of": ""}),
        ("FailedCreatePodSandBox", 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
         'network for sandbox "4f2a": plugin type="calico" failed (add): error getting ClusterInformation: '
         "connection is unauthorized: Unauthorized", {"kind": "other", "name": "", "key": "", "of": ""}),
    ],
)  # fmt: skip
def test_a_pod_stuck_in_container_creating_says_why(kube, cluster, reason, message, missing):
    healthy(cluster)
    cluster.pods.append(k.pod(NEW, phase="Pending", statuses=[k.container_status(
        ready=False, waiting={"reason": "ContainerCreating"})]))  # fmt: skip
    cluster.events.append(k.event(NEW, reason, message, count=9))
    (finding,) = crit(run(kube, "pods"))
    assert finding.summary == f"{NEW} is stuck in ContainerCreating: {reason}: {message}"
    assert finding.evidence.data["problem"] == "container_creating" and finding.evidence.data["missing"] == missing


def test_container_creating_with_only_normal_events_is_quiet(kube, cluster):
    healthy(cluster)
    cluster.pods.append(k.pod(NEW, phase="Pending", statuses=[k.container_status(
        ready=False, waiting={"reason": "ContainerCreating"})]))  # fmt: skip
    cluster.events.append(k.event(NEW, "Pulling", 'Pulling image "registry.example.com/orion/task-service:1.42.0"',
                                  type_="Normal"))  # fmt: skip
    (finding,) = run(kube, "pods")
    assert finding.status == "ok" and finding.summary == "All 3 pods running and ready (0 restarts); 1 starting"
