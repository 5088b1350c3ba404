"""The Kubernetes collector reads the logs of every pod, bounded; a container waiting to start has none yet.

The real client against the loopback API server (tests/kube_api.py), which
answers a log request for a waiting container with the API server's 400.
"""

from diagnostics.collectors import kubernetes as kc
from tests.diagnostics import k8s_objects as k
from tests.diagnostics.test_kubernetes import WINDOW, healthy, run, target

RUNNING = "task-service-7d9f4c8b9-def34"


def log_requests(cluster):
    return [r for r in cluster.requests if r["path"].endswith("/log")]


def test_a_running_ready_pod_that_cannot_resolve_its_database_shows_it_in_its_logs(kube, cluster):
    healthy(cluster)
    cluster.logs[(RUNNING, "app", False)] = "\n".join(
        [
            "2026-11-20T11:20:00Z INFO task-service listening on :3000",
            "Error: getaddrinfo ENOTFOUND postgres.orion-prod.svc.cluster.local",
            "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
            "Error: getaddrinfo ENOTFOUND postgres.orion-prod.svc.cluster.local",
            "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
        ]
    )
    findings = run(kube, "logs")
    (dns,) = [f for f in findings if f.check == "kubernetes.logs.pattern.dns"]
    assert dns.subject == "postgres.orion-prod.svc.cluster.local" and dns.evidence.observed == 2
    assert dns.evidence.data["pod"] == RUNNING and dns.evidence.data["previous"] is False
    (groups,) = [f for f in findings if f.check == "kubernetes.logs.error_groups"]
    assert groups.evidence.observed == 2  # the stack frames are not errors of their own
    assert groups.evidence.data["decisive_line"] == "Error: getaddrinfo ENOTFOUND postgres.orion-prod.svc.cluster.local"
    # Every pod's current log was read, none of them troubled.
    assert {r["path"].split("/")[-2] for r in log_requests(cluster)} == {p["metadata"]["name"] for p in cluster.pods}


def test_current_and_previous_logs_of_a_restarted_container(kube, cluster):
    healthy(cluster)
    cluster.pods[1] = k.pod(RUNNING, statuses=[k.container_status(restarts=1, terminated_last=k.terminated(1))])
    cluster.logs[(RUNNING, "app", True)] = "OSError: [Errno 13] Permission denied: '/data/uploads'"
    cluster.logs[(RUNNING, "app", False)] = "INFO started again"
    findings = run(kube, "logs")
    (denied,) = [f for f in findings if f.check == "kubernetes.logs.pattern.permission_denied"]
    assert denied.evidence.data["previous"] is True and denied.evidence.data["errno"] == "EACCES"
    assert "--previous" in denied.evidence.query
    asked = {(r["path"].split("/")[-2], r["query"].get("previous", ["false"])[0]) for r in log_requests(cluster)}
    assert {(RUNNING, "true"), (RUNNING, "false")} <= asked


def test_reads_are_bounded_in_pods_lines_and_bytes(kube, cluster):
    healthy(cluster)
    cluster.pods = [k.pod(f"task-service-7d9f4c8b9-p{i:04d}") for i in range(12)]
    for pod in cluster.pods:
        cluster.logs[(pod["metadata"]["name"], "app", False)] = "\n".join(f"INFO line {n}" for n in range(50))
    collector = kc.KubernetesCollector(config=kc.KubernetesConfig(log_pods=4, log_tail_lines=20, log_limit_bytes=100))
    with collector.open(target(kube), WINDOW) as session:
        (finding,) = collector.run_check("logs", session, WINDOW)
    requests = log_requests(cluster)
    assert len(requests) == 4
    assert {r["query"]["tailLines"][0] for r in requests} == {"20"}
    assert {r["query"]["limitBytes"][0] for r in requests} == {"100"}
    assert finding.status == "ok" and finding.summary.endswith("(4 pods); 8 more not read (bounds)")
    # 100 bytes of "INFO line NN\n" lines: 7 whole lines and a cut one, from each of the 4 containers.
    assert finding.evidence.data["lines"] == 32


def test_troubled_pods_are_read_first(kube, cluster):
    healthy(cluster)
    cluster.pods = [k.pod(f"task-service-7d9f4c8b9-a{i:04d}") for i in range(5)]
    crashing = "task-service-7d9f4c8b9-z9999"
    crash = k.container_status(
        ready=False, restarts=4, waiting={"reason": "CrashLoopBackOff"}, terminated_last=k.terminated(127)
    )
    cluster.pods.append(k.pod(crashing, statuses=[crash]))
    cluster.logs[(crashing, "app", True)] = "/bin/sh: 1: gunicorn: not found"
    collector = kc.KubernetesCollector(config=kc.KubernetesConfig(log_pods=2))
    with collector.open(target(kube), WINDOW) as session:
        findings = collector.run_check("logs", session, WINDOW)
    (missing,) = [f for f in findings if f.check == "kubernetes.logs.pattern.exec_not_found"]
    assert missing.evidence.data["name"] == "gunicorn" and missing.subject == f"{crashing}/app"


def test_pod_initializing_is_not_an_error(kube, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-init1"
    cluster.pods.append(k.with_init(k.pod(name), [k.init_status("migrate", running="2026-11-20T11:29:30Z")]))
    cluster.logs[(name, "migrate", False)] = "INFO applying migration 0042"
    findings = run(kube, "logs")
    assert [f.status for f in findings] == ["ok"]
    # The main container was asked for and answered 400 "waiting to start: PodInitializing"; no error came of it.
    asked = {(r["path"].split("/")[-2], r["query"]["container"][0]) for r in log_requests(cluster)}
    assert (name, "migrate") in asked and (name, "app") not in asked
    collector = kc.KubernetesCollector()
    with collector.open(target(kube), WINDOW) as session:
        assert session.log(name, "app", previous=False, tail=10, limit_bytes=1000) is None
    assert cluster.requests[-1]["path"].endswith(f"/pods/{name}/log")


def test_init_container_logs_are_read_and_marked(kube, cluster):
    healthy(cluster)
    name = "task-service-7d9f4c8b9-init2"
    cluster.pods.append(k.with_init(k.pod(name), [k.init_status(
        "wait-for-db", waiting={"reason": "CrashLoopBackOff"}, restarts=5, last=k.terminated(1))]))  # fmt: skip
    cluster.logs[(name, "wait-for-db", True)] = "waiting for db\nwget: bad address 'db'\nexit status 1"
    findings = run(kube, "logs")
    (dns,) = [f for f in findings if f.check == "kubernetes.logs.pattern.dns"]
    assert dns.subject == "db" and dns.evidence.data["init"] is True and dns.evidence.data["previous"] is True
    (groups,) = [f for f in findings if f.check == "kubernetes.logs.error_groups"]
    assert groups.evidence.data["decisive_line"] == "wget: bad address 'db'"
    assert groups.evidence.data["exit_line"] == "exit status 1"


def test_forbidden_logs_are_an_error_finding_and_the_pods_check_still_runs(kube, cluster):
    healthy(cluster)
    cluster.pods[0] = k.pod("task-service-7d9f4c8b9-abc12", statuses=[k.container_status(
        ready=False, restarts=3, waiting={"reason": "CrashLoopBackOff"}, terminated_last=k.terminated(1))])  # fmt: skip
    cluster.forbidden_resources = {"log"}
    findings = kc.KubernetesCollector().collect(target(kube), WINDOW)
    (logs_error,) = [f for f in findings if f.check == "kubernetes.logs"]
    assert logs_error.status == "error" and "forbidden (403)" in logs_error.summary
    crash = next(f for f in findings if f.check == "kubernetes.pods" and f.status == "crit")
    assert "CrashLoopBackOff" in crash.summary and crash.evidence.data["decisive_line"] == ""
