"""Reading what the scheduler, the kubelet, the controllers and the autoscaler say: real messages, several per class."""

import pytest

from diagnostics.collectors import kube_messages as m

PREEMPTION = " preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


@pytest.mark.parametrize(
    ("message", "kinds"),
    [
        ("0/3 nodes are available: 3 Insufficient memory." + PREEMPTION, ["memory"]),
        (
            "0/5 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "4 node(s) didn't match Pod's node affinity/selector." + PREEMPTION,
            ["taint", "node_affinity"],
        ),
        (
            "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules." + PREEMPTION,
            ["pod_anti_affinity"],
        ),
        ("0/3 nodes are available: 3 node(s) didn't match pod affinity rules.", ["pod_affinity"]),
        ("0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.", ["pod_anti_affinity"]),
        ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu." + PREEMPTION, ["extended_resource"]),
        (
            "0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims." + PREEMPTION,
            ["volume_unbound"],
        ),
        ("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.", ["volume_unbound"]),
        (
            "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) had untolerated taint "
            "{dedicated: db}.",
            ["volume_node_affinity", "taint"],
        ),
        ('0/1 nodes are available: 1 persistentvolumeclaim "data-db-0" not found.', ["volume_missing"]),
        ("0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.", ["node_unschedulable", "cpu"]),
        (
            "0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.",
            ["node_not_ready"],
        ),
        (
            "0/3 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/master: }, that the pod didn't "
            "tolerate, 2 node(s) didn't match node selector.",
            ["taint", "node_affinity"],
        ),
        ("0/6 nodes are available: 6 node(s) didn't match pod topology spread constraints.", ["topology_spread"]),
        ("0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.", ["ports"]),
        ("0/3 nodes are available: 3 Too many pods.", ["pods"]),
        (
            "0/3 nodes are available: 2 Insufficient ephemeral-storage, 1 Insufficient cpu.",
            ["ephemeral_storage", "cpu"],
        ),
        (
            "0/3 nodes are available: 2 Insufficient cpu, 2 Insufficient memory, 1 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }.",
            ["cpu", "memory", "taint"],
        ),
        ("no nodes available to schedule pods", ["other"]),
    ],
)
def test_every_scheduling_clause_is_read(message, kinds):
    assert m.parse_scheduling(message).reasons == kinds


def test_scheduling_names_resources_taints_and_counts():
    parsed = m.parse_scheduling(
        "0/4 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 3 Insufficient nvidia.com/gpu."
        + PREEMPTION
    )
    assert (parsed.nodes_available, parsed.nodes_total) == (0, 4)
    taint, gpu = parsed.clauses
    assert (taint.kind, taint.taint, taint.count) == ("taint", "gpu", 1)
    assert (gpu.kind, gpu.resource, gpu.count) == ("extended_resource", "nvidia.com/gpu", 3)
    assert (
        parsed.describe() == "untolerated taint gpu (1 node), insufficient nvidia.com/gpu (extended resource) (3 nodes)"
    )
    assert parsed.preemption.startswith("0/3 nodes are available: 3 Preemption is not helpful")


def test_affinity_is_never_a_taint_and_pressure_taints_name_the_condition():
    anti = m.parse_scheduling("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
    assert "taint" not in anti.reasons and anti.pressure == ""
    pressed = m.parse_scheduling(
        "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }."
    )
    assert pressed.reasons == ["taint"] and pressed.pressure == "MemoryPressure"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            'failed to pull and unpack image "docker.io/library/nginx:1.99": failed to resolve reference '
            '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found',
            "not_found",
        ),
        (
            "rpc error: code = NotFound desc = failed to pull and unpack image "
            '"registry.example.com/orion/task-service:1.43.0": failed to resolve reference '
            '"registry.example.com/orion/task-service:1.43.0": not found',
            "not_found",
        ),
        (
            "rpc error: code = Unknown desc = Error response from daemon: manifest for registry.example.com/app:v9 "
            "not found: manifest unknown: manifest unknown",
            "not_found",
        ),
        (
            'failed to pull and unpack image "registry.example.com/private/app:1": failed to resolve reference '
            '"registry.example.com/private/app:1": failed to authorize: failed to fetch oauth token: unexpected status '
            "from GET request to https://registry.example.com/token?scope=repository%3Aprivate%2Fapp%3Apull: "
            "401 Unauthorized",
            "unauthorized",
        ),
        (
            'Error response from daemon: Head "https://1234.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/1": '
            "no basic auth credentials",
            "unauthorized",
        ),
        (
            'failed to resolve reference "europe-docker.pkg.dev/p/r/app:1": failed to authorize: failed to fetch '
            "oauth token: unexpected status: 403 Forbidden",
            "unauthorized",
        ),
        (
            'failed to pull and unpack image "docker.io/acme/private-app:1": failed to resolve reference '
            '"docker.io/acme/private-app:1": pull access denied, repository does not exist or may require '
            "authorization: server message: insufficient_scope: authorization failed",
            "ambiguous",
        ),
        (
            "Error response from daemon: pull access denied for acme/app, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied",
            "ambiguous",
        ),
        (
            'failed to resolve reference "ghcr.io/acme/app:1": failed to authorize: failed to fetch anonymous token: '
            "unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fapp%3Apull: "
            "401 Unauthorized",
            "ambiguous",
        ),
        (
            'failed to do request: Head "https://registry.example.com/v2/app/manifests/1": dial tcp: lookup '
            "registry.example.com on 10.96.0.10:53: no such host",
            "unreachable",
        ),
        ('Get "https://registry.example.com/v2/": net/http: TLS handshake timeout', "unreachable"),
        (
            'Get "https://registry.example.com/v2/": tls: failed to verify certificate: x509: certificate signed by '
            "unknown authority",
            "tls",
        ),  # fmt: skip
        (
            'couldn\'t parse image reference "Registry/App:1": invalid reference format: repository name must be '
            "lowercase",
            "invalid",
        ),  # fmt: skip
        ('Back-off pulling image "registry.example.com/orion/task-service:1.43.0"', "unknown"),
    ],
)
def test_image_pull_is_decided_by_the_registrys_answer(message, kind):
    assert m.classify_image_pull(message) == kind


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        (
            'configmap "task-config" not found',
            {"kind": "configmap", "name": "task-config", "key": "", "of": "configmap"},
        ),
        ('secret "db-credentials" not found', {"kind": "secret", "name": "db-credentials", "key": "", "of": "secret"}),
        (
            "couldn't find key DATABASE_URL in ConfigMap orion-prod/task-config",
            {"kind": "key", "name": "task-config", "key": "DATABASE_URL", "of": "configmap"},
        ),
        (
            "couldn't find key password in Secret orion-prod/db",
            {"kind": "key", "name": "db", "key": "password", "of": "secret"},
        ),
        (
            'container has runAsNonRoot and image will run as root (pod: "x_orion-prod(uid)", container: app)',
            {"kind": "other", "name": "", "key": "", "of": ""},
        ),
    ],
)
def test_config_errors_name_what_is_missing(message, missing):
    assert m.parse_config_error(message) == missing


@pytest.mark.parametrize(
    ("message", "cause", "quota"),
    [
        (
            'Error creating: pods "task-service-7d9f4c8b9-x2k4m" is forbidden: exceeded quota: compute-quota, '
            "requested: limits.cpu=1, used: limits.cpu=4, limited: limits.cpu=4",
            "quota",
            "compute-quota",
        ),
        (
            'Error creating: pods "task-service-7d9f4c8b9-" is forbidden: failed quota: team-quota: must specify '
            "limits.cpu for: app; limits.memory for: app",
            "quota",
            "team-quota",
        ),
        (
            'Error creating: pods "x" is forbidden: maximum cpu usage per Container is 2, but limit is 4',
            "limit_range",
            "",
        ),
        (
            'Error creating: pods "x-" is forbidden: error looking up service account orion-prod/task-runner: '
            'serviceaccount "task-runner" not found',
            "service_account",
            "",
        ),
        (
            'Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation '
            '!= false (container "app" must set securityContext.allowPrivilegeEscalation=false)',
            "security",
            "",
        ),
        (
            'Error creating: admission webhook "validate.kyverno.svc-fail" denied the request: resource Pod/x was '
            "blocked due to the following policies",
            "admission",
            "",
        ),
        ("Error creating: Internal error occurred: etcdserver: request timed out", "other", ""),
    ],
)
def test_failed_create_says_why(message, cause, quota):
    assert m.parse_failed_create(message) == {"cause": cause, "quota": quota}


@pytest.mark.parametrize(
    ("message", "cause", "metric"),
    [
        (
            "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu "
            "in container app of Pod task-service-7d9f4c8b9-abc12",
            "missing_request",
            "cpu",
        ),
        (
            "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for "
            "resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested "
            "resource (get pods.metrics.k8s.io)",
            "metrics_api_unavailable",
            "cpu",
        ),
        (
            "the HPA was unable to compute the replica count: failed to get memory utilization: unable to get metrics "
            "for resource memory: no metrics returned from resource metrics API",
            "no_metrics",
            "memory",
        ),
        (
            "the HPA was unable to compute the replica count: unable to get metric http_requests_per_second: unable to "
            "fetch metrics from custom metrics API: the server could not find the metric http_requests_per_second "
            "for pods",
            "no_metrics",
            "http_requests_per_second",
        ),
    ],
)
def test_hpa_metric_failures_say_why(message, cause, metric):
    assert m.parse_hpa_metrics(message) == {"cause": cause, "metric": metric}


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0, ""),
        (None, ""),
        (1, "the application exited with an error"),
        (127, "command not found"),
        (126, "command not executable"),
        (137, "killed by SIGKILL (the OOM killer or a liveness kill)"),
        (143, "killed by SIGTERM"),
        (139, "killed by SIGSEGV"),
    ],
)
def test_exit_codes_by_convention(code, meaning):
    assert m.exit_meaning(code) == meaning


@pytest.mark.parametrize(
    ("message", "parsed"),
    [
        ("Readiness probe failed: HTTP probe failed with statuscode: 503",
         {"kind": "readiness", "cause": "status", "status": 503, "url": ""}),
        ('Liveness probe failed: Get "http://10.244.1.5:3000/health": dial tcp 10.244.1.5:3000: connect: connection '
         "refused", {"kind": "liveness", "cause": "refused", "status": None, "url": "http://10.244.1.5:3000/health"}),
        ('Readiness probe failed: Get "http://10.244.0.7:8080/ready": context deadline exceeded (Client.Timeout '
         "exceeded while awaiting headers)",
         {"kind": "readiness", "cause": "timeout", "status": None, "url": "http://10.244.0.7:8080/ready"}),
        ("Startup probe failed: dial tcp 10.244.2.9:5432: i/o timeout",
         {"kind": "startup", "cause": "timeout", "status": None, "url": ""}),
        ("Liveness probe failed: command \"pg_isready -U app\" exited with 2",
         {"kind": "liveness", "cause": "exec", "status": None, "url": ""}),
    ],
)  # fmt: skip
def test_probe_events_say_how_they_failed(message, parsed):
    assert m.parse_probe(message) == parsed
