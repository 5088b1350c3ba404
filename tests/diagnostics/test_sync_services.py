"""python manage.py sync_services: round trip, dry run, prune, and every error with its path."""

import io
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diagnostics.models import Target
from incidents.models import Service
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

TARGETS = """
services:
  - slug: task-service
    name: Task service
    owners: [erin]
    targets:
      kubernetes: {kubeconfig: /etc/orion/kubeconfig, context: prod, namespace: orion-prod,
                   selector: app=task-service, deployment: task-service, actions: false}
      postgres: {dsn_env: ORION_TARGET_TASK_DB_DSN, pool_size_per_pod: 10}
      prometheus: {url: "http://prometheus:9090", labels: {service: task-service}}
  - slug: notification-service
    name: Notification service
    targets:
      postgres: {dsn_env: ORION_TARGET_NOTIFY_DB_DSN, name: notify-db}
"""


def sync(tmp_path, text: str, *args: str) -> tuple[str, str]:
    path = tmp_path / "targets.yaml"
    path.write_text(textwrap.dedent(text))
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_services", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def state():
    return sorted(
        (t.service.slug, t.kind, t.name, tuple(sorted(t.config.items())))
        for t in Target.objects.select_related("service")
    )


def test_round_trip_is_idempotent(tmp_path):
    UserFactory(username="erin")
    out, _ = sync(tmp_path, TARGETS)
    assert "created service task-service" in out and "created postgres target of notification-service" in out
    assert out.strip().endswith("2 service(s) in " + str(tmp_path / "targets.yaml") + "; 7 change(s)")
    task = Service.objects.get(slug="task-service")
    assert [u.username for u in task.owners.all()] == ["erin"]
    postgres = Target.objects.get(service=task, kind="postgres")
    assert (
        postgres.config == {"dsn_env": "ORION_TARGET_TASK_DB_DSN", "pool_size_per_pod": 10}
        and postgres.name == "task-service"
    )
    assert Target.objects.get(service__slug="notification-service").name == "notify-db"
    before = state()

    again, _ = sync(tmp_path, TARGETS)
    assert "; 0 change(s)" in again and "created" not in again
    assert state() == before


def test_changes_and_removed_targets_are_applied(tmp_path):
    sync(tmp_path, TARGETS.replace("    owners: [erin]\n", ""))
    changed = TARGETS.replace("    owners: [erin]\n", "").replace("pool_size_per_pod: 10", "pool_size_per_pod: 20")
    changed = changed.replace(
        '      prometheus: {url: "http://prometheus:9090", labels: {service: task-service}}\n', ""
    )
    out, _ = sync(tmp_path, changed)
    assert "updated postgres target of task-service" in out
    assert "deleted prometheus target of task-service" in out
    assert Target.objects.get(kind="postgres", service__slug="task-service").config["pool_size_per_pod"] == 20
    assert not Target.objects.filter(kind="prometheus").exists()


def test_dry_run_changes_nothing(tmp_path):
    out, _ = sync(tmp_path, TARGETS.replace("    owners: [erin]\n", ""), "--dry-run")
    assert "would have created service task-service" in out and "dry run: nothing written" in out
    assert not Service.objects.exists() and not Target.objects.exists()


def test_prune_is_off_by_default_and_refuses_services_with_incidents(tmp_path):
    ServiceFactory(slug="legacy")
    busy = ServiceFactory(slug="busy")
    IncidentFactory(services=[busy])
    text = TARGETS.replace("    owners: [erin]\n", "")
    sync(tmp_path, text)
    assert Service.objects.filter(slug__in=["legacy", "busy"]).count() == 2
    with pytest.raises(CommandError):
        sync(tmp_path, text, "--prune")
    assert Service.objects.filter(slug="legacy").exists()  # nothing changed
    busy.incidents.clear()
    out, _ = sync(tmp_path, text, "--prune")
    assert "deleted service busy" in out and "deleted service legacy" in out
    assert sorted(Service.objects.values_list("slug", flat=True)) == ["notification-service", "task-service"]


BROKEN = """
services:
  - slug: task-service
    name: Task service
    owners: [nobody]
    targets:
      postgres: {pool_size_per_pod: 0}
      kubernetes: {namespace: prod, selector: app=x}
  - slug: Not A Slug
    targets:
      prometheus: {url: "http://admin:hunter2@prometheus:9090", labels: {}}
      postgres: {dsn: "postgres://app:hunter2@db/app", dsn_env: "postgres://app:hunter2@db/app"}
      redis: {url: x}
  - slug: task-service
    name: Duplicate
"""


def test_every_error_is_reported_with_its_path_and_nothing_changes(tmp_path):
    ServiceFactory(slug="task-service", name="Before")
    path = tmp_path / "targets.yaml"
    path.write_text(textwrap.dedent(BROKEN))
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("sync_services", str(path), stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "nothing changed" in str(caught.value)
    lines = err.getvalue().splitlines()
    for expected in [
        "services[0].owners[0]: no active user named 'nobody'",
        "services[0].targets.postgres.dsn_env: required",
        "services[0].targets.postgres.pool_size_per_pod: must be a positive integer",
        "services[0].targets.kubernetes.kubeconfig: required (or in_cluster: true)",
        "services[1].slug: required: lower-case letters, digits and dashes",
        "services[1].name: required",
        "services[1].targets.prometheus.url: must not contain credentials; name an environment variable with "
        "auth_header_env",
        "services[1].targets.prometheus.labels: must be a non-empty mapping of label names to values",
        "services[1].targets.postgres.dsn: unknown key (put the DSN in an environment variable and name it with "
        "dsn_env)",
        "services[1].targets.postgres.dsn_env: must be the NAME of an environment variable (letters, digits, _), "
        "not its value",
        "services[1].targets.redis: unknown target kind; use one of: kubernetes, postgres, prometheus, tracing, http",
        "services[2].slug: duplicate of services[0]",
    ]:
        assert expected in lines, f"missing: {expected}\n" + "\n".join(lines)
    assert "hunter2" not in err.getvalue()
    assert Service.objects.get(slug="task-service").name == "Before"
    assert not Target.objects.exists()


def test_invalid_yaml_and_missing_file(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text("services: [\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync_services", str(path), stderr=err)
    assert err.getvalue().startswith("line ") and "not valid YAML" in err.getvalue()
    with pytest.raises(CommandError, match="No such file"):
        call_command("sync_services", str(tmp_path / "missing.yaml"))


SECRETS = """
services:
  - slug: task-service
    name: Task service
    targets:
      postgres: {dsn_env: SECRET_KEY}
      prometheus: {url: "http://prometheus:9090", labels: {service: task-service}, auth_header_env: DATABASE_URL_FILE}
  - slug: notification-service
    name: Notification service
    targets:
      postgres: {dsn_env: NOTIFY_DB_DSN}
"""


def sync_errors(tmp_path, text: str) -> list[str]:
    path = tmp_path / "targets.yaml"
    path.write_text(textwrap.dedent(text))
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("sync_services", str(path), stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1 and "nothing changed" in str(caught.value)
    return err.getvalue().splitlines()


def test_targets_may_only_name_allowed_secret_variables(tmp_path):
    assert sync_errors(tmp_path, SECRETS) == [
        "services[0].targets.postgres.dsn_env: SECRET_KEY is not an allowed secret variable "
        "(allowed: ORION_TARGET_* and TARGET_SECRET_ENV)",
        "services[0].targets.prometheus.auth_header_env: DATABASE_URL_FILE is not an allowed secret variable "
        "(allowed: ORION_TARGET_* and TARGET_SECRET_ENV)",
        "services[1].targets.postgres.dsn_env: NOTIFY_DB_DSN is not an allowed secret variable "
        "(allowed: ORION_TARGET_* and TARGET_SECRET_ENV)",
    ]
    assert not Service.objects.exists() and not Target.objects.exists()


def test_target_secret_env_allows_more_names_but_never_a_setting(tmp_path, settings):
    settings.TARGET_SECRET_ENV = ["NOTIFY_DB_DSN", "SECRET_KEY", "DATABASE_URL_FILE"]
    assert sync_errors(tmp_path, SECRETS) == [
        "services[0].targets.postgres.dsn_env: SECRET_KEY is an Orion Ops setting and never an allowed secret "
        "variable, even when listed (ORION_TARGET_* and TARGET_SECRET_ENV)",
        "services[0].targets.prometheus.auth_header_env: DATABASE_URL_FILE is an Orion Ops setting and never an "
        "allowed secret variable, even when listed (ORION_TARGET_* and TARGET_SECRET_ENV)",
    ]
    fixed = SECRETS.replace("SECRET_KEY", "ORION_TARGET_TASK_DB_DSN").replace(
        "DATABASE_URL_FILE", "ORION_TARGET_PROMETHEUS_AUTH"
    )
    out, _ = sync(tmp_path, fixed)
    assert "created postgres target of notification-service" in out
    assert Target.objects.get(service__slug="notification-service").config == {"dsn_env": "NOTIFY_DB_DSN"}


def test_unknown_top_level_keys_are_refused_naming_the_known_ones(tmp_path):
    text = TARGETS.replace("    owners: [erin]\n", "") + "pagers:\n  - {username: alice}\n"
    assert sync_errors(tmp_path, text) == [
        "pagers: unknown key (the file's keys are: services, people, channels, schedules, default_escalation, teams)"
    ]
    assert not Service.objects.exists()


def test_errors_of_every_level_are_listed_together(tmp_path):
    text = """
    teams: [{slug: payments, members: [nobody-here]}]
    services:
      - slug: task-service
        name: Task service
        team: billing
        targets:
          postgres:
          kubernetes: {in_cluster: true, kubeconfig: /etc/orion/kubeconfig, namespace: ~, selector: app=x}
          prometheus: {url: "http://prometheus:9090", labels: {service: ""}, metrics: []}
      - just a string
    """
    assert sorted(sync_errors(tmp_path, text)) == sorted(
        [
            "teams[0].members[0]: no active user named 'nobody-here'",
            "services[0].team: no team 'billing' in this file or stored",
            "services[0].targets.postgres: must be a mapping of keys to values",
            "services[0].targets.kubernetes: give either kubeconfig or in_cluster: true, not both",
            "services[0].targets.kubernetes.namespace: required",
            "services[0].targets.prometheus.labels.service: must be text",
            "services[0].targets.prometheus.metrics: must be a non-empty mapping of names",
            "services[1]: must be a mapping with slug, name and targets",
        ]
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "services: required: a list of services"),
        ("services:\n", "services: required: a list of services"),
        ("services: {slug: task-service}\n", "services: must be a list of services"),
        ("- task-service\n", "file: must be a mapping with services (a list of services)"),
        ("services:\n  - {slug: a, name: A, targets: [postgres]}\n", "services[0].targets: must be a mapping of kind "
         "to settings (kubernetes, postgres, prometheus, tracing, http)"),
    ],
)  # fmt: skip
def test_a_file_of_the_wrong_shape_says_what_is_expected(tmp_path, text, error):
    assert sync_errors(tmp_path, text) == [error]


def test_null_settings_count_as_absent_and_kubernetes_actions_default_to_off(tmp_path):
    text = """
    services:
      - slug: task-service
        name: "  Task service  "
        description: ~
        targets:
          kubernetes: {in_cluster: true, namespace: orion-prod, selector: app=task-service, context: ~}
          postgres: {dsn_env: ORION_TARGET_TASK_DB_DSN, pool_size_per_pod: ~, name: task-db}
    """
    sync(tmp_path, text)
    assert Service.objects.get().name == "Task service"
    assert state() == [
        ("task-service", "kubernetes", "task-service",
         (("actions", False), ("in_cluster", True), ("namespace", "orion-prod"), ("selector", "app=task-service"))),
        ("task-service", "postgres", "task-db", (("dsn_env", "ORION_TARGET_TASK_DB_DSN"),)),
    ]  # fmt: skip
