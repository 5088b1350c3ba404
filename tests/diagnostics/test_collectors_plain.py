"""Collectors and actions are plain Python: each module imports and runs without Django, Celery, DRF or orion_ops.

Each module is imported in a fresh interpreter with DJANGO_SETTINGS_MODULE
unset, one of its functions is run on a real input, and the interpreter then
reports which of those packages got loaded: none may be. Their thresholds,
limits and secrets come in as arguments (diagnostics.conf and
diagnostics.credentials, on the engine's side).
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "celery", "kombu", "rest_framework", "drf_spectacular", "orion_ops", "incidents")

# module → (an expression over the module's names, what it must give)
RUNS = {
    "diagnostics.collectors": ("collector_class('postgres').kind", "postgres"),
    "diagnostics.collectors.base": (
        "[grade(95, warn=80, crit=90), grade(98.5, warn=99, crit=90, lower_is_worse=True, inclusive=False),"
        " grade(0.01, warn=0.01, crit=0.05, inclusive=False)]",
        ["crit", "warn", "ok"],
    ),
    "diagnostics.collectors.logs": (
        "[hit.pattern.id for hit in analyze(['11:20:02 ERROR connect ECONNREFUSED 10.0.3.4:5432']).patterns]",
        ["econnrefused"],
    ),
    "diagnostics.collectors.postgres": (
        "[PostgresCollector(config=PostgresConfig(statement_timeout_ms=750)).conninfo("
        "TargetSpec(kind='postgres', name='db', config={}), {'dsn': 'postgresql://app:pw@db/app'})[1],"
        " round(estimate_bloat({'data_width': 40, 'reltuples': 1000, 'relpages': 100, 'block_size': 8192,"
        " 'fillfactor': 100, 'column_count': 3, 'max_null_frac': 0})[0])]",
        [["postgresql://app:pw@db/app", "pw"], 91],
    ),
    "diagnostics.collectors.tracing": (
        "[truncate_statement('SELECT a, b FROM t WHERE id = $1', 30), percentile([5, 1, 3, 2, 4], 0.95),"
        " TracingCollector().config.min_duration_ms]",
        ["SELECT … FROM t WHERE id = $1", 5, 1000],
    ),
    "diagnostics.collectors.http": (
        "[hostname_matches('api.example.com', ['*.example.com']), health_failures('{\"db\": \"down\"}'),"
        " HttpCollector().config.timeout_seconds, excerpt(b'  a  b  ', 10)]",
        [True, ["db"], 5.0, "a b"],
    ),
    "diagnostics.collectors.prometheus": (
        "[linear_fit([(0, 1.0), (1, 3.0), (2, 5.0)]), PrometheusCollector().config.error_rate_crit,"
        " label_matchers({'service': 'task-service'})]",
        [[2.0, 1.0, 1.0], 0.05, 'service="task-service"'],
    ),
    "diagnostics.collectors.kubernetes": (
        "[quantity('250m'), quantity('0.5Gi'), parse_selector('app=task-service,tier=web'),"
        " request_timeout({'timeout_seconds': 4}, KubernetesConfig())]",
        [0.25, 536870912.0, {"app": "task-service", "tier": "web"}, [3.0, 4.0]],
    ),
    "diagnostics.collectors.kube_messages": (
        "[parse_scheduling('0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {a: b}.')"
        ".reasons, classify_image_pull('manifest unknown'), parse_config_error('secret \"db\" not found')['name']]",
        [["cpu", "taint"], "not_found", "db"],
    ),
    "diagnostics.actions.kubernetes": (
        "describe_failure(ApiException(status=404, reason='Not Found'), {'namespace': 'orion-prod'})",
        "not found (404)",
    ),
}

SCRIPT = """
import json, sys
names = {}
exec(f"from {sys.argv[1]} import *", names)
value = eval(sys.argv[2], names)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[3].split(",")))
print(json.dumps({"value": value, "loaded": loaded}))
"""


def run_plain(module: str, expression: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE" and not k.startswith("DIAGNOSTICS_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, module, expression, ",".join(FORBIDDEN)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_collector_and_action_module_is_covered():
    modules = {"diagnostics.collectors"} | {
        f"diagnostics.{path.parent.name}.{path.stem}"
        for folder in ("collectors", "actions")
        for path in (ROOT / "diagnostics" / folder).glob("*.py")
        if path.stem != "__init__"
    }
    assert modules == set(RUNS)


@pytest.mark.parametrize("module", sorted(RUNS))
def test_module_imports_and_runs_without_django_celery_drf_or_orion_ops(module):
    expression, expected = RUNS[module]
    outcome = run_plain(module, expression)
    assert outcome["loaded"] == []
    assert outcome["value"] == expected


def environment_reads(source: str) -> list[str]:
    """``os.environ`` / ``getenv`` / ``environ`` in a module's code (not its text)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            found.append(node.attr)
        elif isinstance(node, ast.Name) and node.id in ("environ", "getenv"):
            found.append(node.id)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found.extend(alias.name for alias in node.names)
    return found


def test_environment_reads_are_found():
    assert sorted(environment_reads("import os\nos.environ.get('X')\nfrom os import getenv\n")) == ["environ", "getenv"]


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for folder in ("collectors", "actions")
        for p in (ROOT / "diagnostics" / folder).glob("*.py")
    ),
)
def test_no_collector_or_action_reads_the_environment(path):
    assert environment_reads((ROOT / path).read_text()) == []
