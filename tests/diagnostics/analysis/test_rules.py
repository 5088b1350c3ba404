"""Each rule fires on its mechanism's evidence, stays silent on near-misses, and weakens on contradiction."""

import random

import pytest

from diagnostics.analysis import hypotheses_for
from tests.diagnostics.analysis.builders import (
    error_groups,
    error_rate,
    finding,
    healthy,
    latency,
    log_pattern,
    pod,
    saturation,
    since,
)


def by_key(findings):
    return {h.key: h for h in hypotheses_for(findings)}


def top(findings):
    found = hypotheses_for(findings)
    return found[0] if found else None


# -- healthy ---------------------------------------------------------------------------------------


def test_healthy_service_has_no_hypothesis_above_three_tenths():
    assert all(h.confidence <= 0.3 for h in hypotheses_for(healthy()))


def test_no_findings_no_hypotheses():
    assert hypotheses_for([]) == []


# -- connection pool exhausted ---------------------------------------------------------------------


def test_pool_exhausted_from_saturation_pattern_and_5xx():
    h = top([saturation(94.0, "crit"), log_pattern("prisma_p2024"), error_rate(0.083, "crit"), *healthy()[1:]])
    assert h.key == "pool_exhausted"
    assert h.confidence >= 0.9
    assert "94 %" in h.title and "16 of 17" in h.title
    assert h.runbook == "db-connection-pool-exhausted"
    checks = {link["check"] for link in h.to_dict()["evidence"]}
    assert {"postgres.connection_saturation", "kubernetes.logs.pattern.prisma_p2024", "prometheus.error_rate"} <= checks


@pytest.mark.parametrize("pattern", ["python_pool_timeout", "sequelize_pool_timeout", "too_many_clients"])
def test_pool_exhausted_from_any_pool_timeout_family(pattern):
    h = by_key([saturation(92.0, "crit"), log_pattern(pattern)])["pool_exhausted"]
    assert h.confidence >= 0.75


def test_pool_near_miss_saturation_below_warning_and_no_timeouts_is_silent():
    assert "pool_exhausted" not in by_key([saturation(70.0, "ok"), error_rate(0.083, "crit")])


def test_low_saturation_contradicts_pool_timeouts():
    alone = by_key([log_pattern("prisma_p2024")])["pool_exhausted"].confidence
    contradicted = by_key([log_pattern("prisma_p2024"), saturation(20.0, "ok")])["pool_exhausted"].confidence
    assert contradicted < alone
    assert contradicted <= 0.3


def test_a_later_healthy_reading_replaces_an_earlier_saturated_one():
    early = saturation(95.0, "crit", run=1, at=since(0))
    later = saturation(20.0, "ok", run=2, at=since(10))
    assert "pool_exhausted" not in by_key([early, later])


# -- slow queries -----------------------------------------------------------------------------------


def long_running(status="crit"):
    return finding(
        "postgres.long_running_queries", status, "2 queries running longer than 30 s; longest 4 min (pid 4242)",
        "pid 4242 (orion_app)", observed=240.0,
    )  # fmt: skip


def test_slow_queries_with_latency_rise():
    h = by_key([long_running(), latency(11.7, "crit")])["slow_queries"]
    assert h.confidence >= 0.6
    assert "pid 4242" in h.title and "11.7×" in h.title
    assert h.runbook == "slow-queries"


def test_slow_queries_near_miss_latency_alone():
    assert "slow_queries" not in by_key([latency(11.7, "crit")])


def test_normal_latency_lowers_slow_queries():
    rising = by_key([long_running("warn"), latency(5.0, "crit")])["slow_queries"].confidence
    flat = by_key([long_running("warn"), latency(1.0, "ok")]).get("slow_queries")
    assert flat is None or flat.confidence < rising
    assert flat is None or flat.confidence <= 0.3


def test_slow_trace_breakdown_on_the_database_supports_slow_queries():
    trace = finding(
        "tracing.slow_trace_breakdown", "crit", "slow traces: 82 % in postgresql", "postgresql",
        data={"dominant": "db", "shares": {"db": 0.82}, "statement": "SELECT * FROM tasks WHERE owner = $1"},
    )  # fmt: skip
    without = by_key([long_running("warn"), latency(4.0, "crit")])["slow_queries"].confidence
    h = by_key([long_running("warn"), latency(4.0, "crit"), trace])["slow_queries"]
    assert h.confidence > without
    other = finding("tracing.slow_trace_breakdown", "crit", "slow traces in payments", "payments-api:443",
                    data={"dominant": "external"})  # fmt: skip
    assert "slow_queries" not in by_key([other, latency(4.0, "crit")])


# -- memory leak -----------------------------------------------------------------------------------


def leak(status="crit"):
    return finding(
        "prometheus.memory_leak", status,
        "Memory floor growing 42.0 MB/h (R² 0.97); reaches the 512 MiB limit in ~1.5 h", "task-service-abc",
        observed=42.0, range={"r2": 0.97, "hours_to_limit": 1.5, "limit": 536870912},
    )  # fmt: skip


def test_memory_leak_from_floor_growth_and_oom_kills():
    oom = pod("task-service-abc/app was OOMKilled (exit 137) and restarted 4 times", "OOMKilled",
              subject="task-service-abc")  # fmt: skip
    h = by_key([leak(), oom])["memory_leak"]
    assert h.confidence >= 0.8
    assert "task-service-abc" in h.title and "1.5 h" in h.title


def test_oom_with_a_flat_floor_says_limit_too_low():
    oom = pod("task-service-abc/app was OOMKilled (exit 137) and restarted 4 times", "OOMKilled")
    flat = finding("prometheus.memory_leak", "ok", "No steady growth", "task-service-abc", observed=0.2)
    with_leak = by_key([leak("warn"), oom])["memory_leak"].confidence
    h = by_key([flat, oom])["memory_leak"]
    assert h.confidence < with_leak
    assert "limit too low" in h.title


def test_memory_near_miss_high_usage_without_growth_or_kills():
    near = finding("prometheus.memory_vs_limit", "warn", "memory at 85% of the limit", "pod-a", observed=0.85)
    assert "memory_leak" not in by_key([near])


# -- CPU saturation --------------------------------------------------------------------------------


def test_cpu_saturation_with_hpa_at_max_and_latency():
    cpu = finding("prometheus.cpu_saturation", "crit", "CPU at 98% of the limit at 03:10", "pod-a", observed=0.98)
    hpa = finding("kubernetes.hpa", "warn", "task-service at its maximum: 10 of max 10 replicas", "task-service")
    h = by_key([cpu, hpa, latency(3.0, "crit")])["cpu_saturation"]
    assert h.confidence >= 0.75
    assert "98%" in h.title and "10 of max 10" in h.title


def test_cpu_near_miss_hpa_at_max_alone():
    hpa = finding("kubernetes.hpa", "warn", "task-service at its maximum: 10 of max 10 replicas", "task-service")
    assert "cpu_saturation" not in by_key([hpa, latency(3.0, "crit")])


# -- bad deploy -------------------------------------------------------------------------------------


def rollout(at):
    return finding(
        "kubernetes.deployment.recent_change", "warn",
        f"Changed just before the incident: new ReplicaSet task-service-9f8e at {at:%Y-%m-%d %H:%M:%S} with "
        "registry.example/task-service:2.4.0 (was registry.example/task-service:2.3.1)",
        "task-service", observed=f"{at:%Y-%m-%d %H:%M:%S}",
    )  # fmt: skip


def test_bad_deploy_names_the_image_change_and_the_lead_time():
    h = by_key([rollout(since(0)), error_rate(0.2, "crit", started=since(4))])["bad_deploy"]
    assert "2.4.0" in h.title and "was registry.example/task-service:2.3.1" in h.title
    assert "4 min before the first errors" in h.title
    assert h.confidence >= 0.55


def test_deploy_after_the_errors_began_is_weaker():
    before = by_key([rollout(since(0)), error_rate(0.2, "crit", started=since(4))])["bad_deploy"].confidence
    after = by_key([rollout(since(30)), error_rate(0.2, "crit", started=since(4))])["bad_deploy"]
    assert after.confidence < before
    assert "after the errors began" in after.title


def test_deploy_near_miss_a_healthy_rollout():
    h = by_key([rollout(since(0)), *healthy()]).get("bad_deploy")
    assert h is None or h.confidence <= 0.3


# -- crash at startup -------------------------------------------------------------------------------

CRASH = "task-service-7d9f4c8b9-abcde/app in CrashLoopBackOff after 5 restarts; last exit Error (code 1)"


def test_crash_names_the_missing_variable_and_exit_code():
    crash = pod(CRASH, 5)
    logs = error_groups("task-service-7d9f4c8b9-abcde", "KeyError: 'DATABASE_URL'")
    h = by_key([crash, logs])["crash_at_startup"]
    assert "exit 1" in h.title and "KeyError: 'DATABASE_URL'" in h.title
    assert h.confidence >= 0.75
    assert h.runbook == "service-not-starting"


def test_crash_prefers_the_collectors_decisive_line():
    crash = pod(CRASH, 5, problem="crash_loop", pod="task-service-7d9f4c8b9-abcde", container="app", exit_code=1,
                decisive_line="Error: Cannot find module '/app/dist/main.js'")  # fmt: skip
    h = by_key([crash])["crash_at_startup"]
    assert "Cannot find module '/app/dist/main.js'" in h.title


def test_failed_job_and_init_container_are_crashes():
    job = finding("kubernetes.jobs", "crit", "Job migrate failed: BackoffLimitExceeded", "migrate",
                  data={"job": "migrate", "pod": "migrate-x1", "exit_code": 2,
                        "decisive_line": "psql: error: connection to server failed"})  # fmt: skip
    init = finding("kubernetes.pods.init", "crit", "init container wait-db exited 1", "task-service-abc",
                   data={"pod": "task-service-abc", "container": "wait-db", "problem": "exited", "exit_code": 1,
                         "decisive_line": "wget: unable to resolve host address 'db'"})  # fmt: skip
    titles = [h.title for h in hypotheses_for([job, init]) if h.key == "crash_at_startup"]
    assert any("Job" in t and "exit 2" in t for t in titles)
    assert any("init container task-service-abc/wait-db" in t and "unable to resolve" in t for t in titles)


def test_oom_crash_loop_is_not_a_startup_crash():
    crash = pod("task-service-abc/app in CrashLoopBackOff after 5 restarts; last exit OOMKilled (code 137)", 5)
    found = by_key([crash])
    assert "crash_at_startup" not in found
    assert "memory_leak" in found


# -- missing dependency -----------------------------------------------------------------------------


def test_missing_dependency_names_host_and_its_empty_service():
    refused = log_pattern("econnrefused", subject="payments-api:8080", lines=40)
    endpoints = finding("kubernetes.endpoints", "crit", "Service payments-api has no ready endpoints", "payments-api",
                        observed=0)  # fmt: skip
    h = by_key([refused, endpoints])["missing_dependency"]
    assert "payments-api:8080" in h.title and "no ready endpoints" in h.title
    assert h.confidence >= 0.7


def test_dependency_with_ready_endpoints_is_weaker():
    refused = log_pattern("econnrefused", subject="payments-api:8080", lines=40)
    ready = finding("kubernetes.endpoints", "ok", "Service payments-api has 2 ready endpoints", "payments-api")
    empty = finding("kubernetes.endpoints", "crit", "Service payments-api has no ready endpoints", "payments-api")
    assert (
        by_key([refused, ready])["missing_dependency"].confidence
        < by_key([refused, empty])["missing_dependency"].confidence
    )


def test_dns_failure_names_the_host():
    h = by_key([log_pattern("dns", subject="redis.cache.svc")])["missing_dependency"]
    assert "redis.cache.svc" in h.title and "resolve" in h.title


def test_dependency_near_miss_one_timeout_without_host():
    h = by_key([log_pattern("etimedout", status="warn", lines=1)]).get("missing_dependency")
    assert h is None or h.confidence <= 0.3


def test_unreachable_http_probe_supports_missing_dependency():
    probe = finding(
        "http.probe",
        "crit",
        "GET http://payments-api:8080/health: connection refused",
        "http://payments-api:8080/health",
        data={"url": "http://payments-api:8080/health", "step": "connect", "error_code": "ECONNREFUSED"},
    )
    refused = log_pattern("econnrefused", subject="payments-api:8080", lines=40)
    assert (
        by_key([refused, probe])["missing_dependency"].confidence > by_key([refused])["missing_dependency"].confidence
    )
    slow = finding(
        "http.probe",
        "warn",
        "GET http://payments-api:8080/health: 2.3 s",
        "http://payments-api:8080/health",
        data={"url": "http://payments-api:8080/health", "step": None, "status_code": 200},
    )
    assert "missing_dependency" not in by_key([slow])


# -- image pull, scheduling, config, probes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "kind"),
    [
        ("pod-a/app cannot pull registry.example/app:9.9: image or tag missing", "missing"),
        ("pod-a/app cannot pull registry.example/app:9.9: not authorised", "authorised"),
    ],
)
def test_image_pull_says_not_found_or_unauthorised(summary, kind):
    h = by_key([pod(summary, "ImagePullBackOff")])["image_pull"]
    assert "registry.example/app:9.9" in h.title and kind in h.title
    assert h.runbook == "image-pull"


def test_image_pull_from_structured_data_says_ambiguous():
    f = pod("pod-a/app cannot pull x", "ErrImagePull", problem="image_pull", pod="pod-a", container="app",
            image="ghcr.io/acme/app:1", pull="ambiguous")  # fmt: skip
    h = by_key([f])["image_pull"]
    assert "ghcr.io/acme/app:1" in h.title and "does not say which" in h.title
    assert h.confidence < 0.85


def test_unschedulable_names_the_reason():
    f = pod("pod-a is Pending, unschedulable: insufficient CPU", "Pending")
    h = by_key([f])["unschedulable"]
    assert "insufficient CPU" in h.title and h.runbook == "scheduling"


def test_unschedulable_reads_every_clause():
    f = pod(
        "pod-a is Pending",
        "Pending",
        problem="unschedulable",
        pod="pod-a",
        scheduling={
            "clauses": [
                {"kind": "extended_resource", "text": "2 Insufficient nvidia.com/gpu"},
                {"kind": "taint", "text": "1 node(s) had untolerated taint {gpu: true}"},
            ]
        },
    )
    h = by_key([f])["unschedulable"]
    assert "nvidia.com/gpu" in h.title and "untolerated taint" in h.title


def test_pending_without_scheduling_failure_is_not_unschedulable():
    assert "unschedulable" not in by_key([pod("pod-a is Pending", "Pending", status="warn")])


def test_missing_config_names_the_secret():
    f = pod('pod-a/app: CreateContainerConfigError: secret "db-credentials" not found', "CreateContainerConfigError")
    h = by_key([f])["missing_config"]
    assert "Secret db-credentials" in h.title and h.confidence >= 0.85


def test_missing_config_names_the_key():
    f = pod("pod-a/app: CreateContainerConfigError: couldn't find key DATABASE_URL in Secret prod/db",
            "CreateContainerConfigError")  # fmt: skip
    assert "key DATABASE_URL of Secret prod/db" in by_key([f])["missing_config"].title


def test_failing_probe_names_path_and_status():
    f = pod("pod-a/app is running but not ready: Readiness probe failed: HTTP probe failed with statuscode: 503",
            "NotReady", status="warn")  # fmt: skip
    events = finding("kubernetes.events", "warn",
                     'Unhealthy — Readiness probe failed: Get "http://10.1.2.3:8080/healthz": dial tcp: connect: '
                     "connection refused", "app=task-service")  # fmt: skip
    h = by_key([f, events])["failing_probes"]
    assert "Readiness" in h.title and "HTTP 503" in h.title


def test_not_ready_without_a_probe_message_is_silent():
    assert "failing_probes" not in by_key([pod("pod-a/app is running but not ready: not ready", "NotReady", "warn")])


# -- failed migration ---------------------------------------------------------------------------------


def test_failed_migration_with_crash_logs():
    migration = finding("postgres.prisma_migrations", "crit", "1 failed Prisma migration(s): 20261201_add_owner",
                        "20261201_add_owner")  # fmt: skip
    crash = pod(CRASH, 5)
    logs = error_groups("task-service-7d9f4c8b9-abcde", "Error: P3009 migrate found failed migrations")
    found = hypotheses_for([migration, crash, logs])
    assert found[0].key == "failed_migration"
    assert "20261201_add_owner" in found[0].title
    assert found[0].confidence >= 0.9


def test_finished_migrations_are_silent():
    assert "failed_migration" not in by_key(healthy())


# -- ranking ----------------------------------------------------------------------------------------


def test_ranking_is_stable_under_any_input_order():
    findings = [saturation(94.0, "crit"), log_pattern("prisma_p2024"), error_rate(0.083, "crit"), long_running(),
                latency(4.0, "crit"), log_pattern("econnrefused", subject="db:5432"), *healthy()[2:]]  # fmt: skip
    expected = [(h.key, h.title) for h in hypotheses_for(findings)]
    assert len(expected) >= 3
    for seed in range(5):
        shuffled = list(findings)
        random.Random(seed).shuffle(shuffled)
        assert [(h.key, h.title) for h in hypotheses_for(shuffled)] == expected
    assert [h["rank"] for h in (x.to_dict() for x in hypotheses_for(findings))] == list(range(1, len(expected) + 1))


def test_ties_break_on_evidence_severity():
    # Two hypotheses of equal confidence: the one resting on a crit finding ranks first.
    warn_crash = pod("pod-w/app restarted 3 times", 3, status="warn")
    crit_pull = pod("pod-a/app cannot pull img:1: image or tag missing", "ImagePullBackOff")
    found = hypotheses_for([warn_crash, crit_pull])
    assert found[0].key == "image_pull"


def test_malformed_evidence_never_crashes_a_rule():
    odd = [
        finding("postgres.connection_saturation", "crit", "?", observed="lots", range="n/a", table=["x"]),
        finding("kubernetes.pods", "crit", "CrashLoopBackOff", observed=None, data="oops"),
        finding("kubernetes.logs.pattern.econnrefused", "crit", "", "", table={"columns": 1, "rows": None}),
        finding("prometheus.error_rate", "crit", "", range={"started": "not a time"}),
        finding("kubernetes.deployment.recent_change", "warn", "new ReplicaSet", observed=42),
    ]
    assert isinstance(hypotheses_for(odd), list)


def test_quota_refusal_with_no_pod_is_a_scheduling_cause():
    refused = finding(
        "kubernetes.failed_create",
        "crit",
        "ReplicaSet task-service-7d9f cannot create pods",
        "task-service-7d9f",
        data={
            "object": "ReplicaSet/task-service-7d9f",
            "cause": "quota",
            "quota": "compute-quota",
            "message": 'pods "x" is forbidden: exceeded quota: compute-quota',
        },
    )
    h = by_key([refused])["unschedulable"]
    assert "ResourceQuota compute-quota exceeded" in h.title and h.runbook == "scheduling"


def test_logs_are_matched_to_their_pod_by_structured_data():
    crash = pod(CRASH, 5, problem="crash_loop", pod="web-9", container="app", exit_code=3)
    logs = finding(
        "kubernetes.logs.error_groups",
        "warn",
        "2 error lines",
        "web-9/app",
        data={"pod": "web-9", "decisive_line": "OSError: [Errno 13] Permission denied: '/data'"},
    )
    h = by_key([crash, logs])["crash_at_startup"]
    assert "exit 3" in h.title and "Permission denied: '/data'" in h.title
