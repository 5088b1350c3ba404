"""The admin's target form validates config with the targets file's models: same rules, same messages."""

import html
import json
import re

import pytest
from django.contrib.auth import get_user_model

from diagnostics.models import Target, TargetKind
from diagnostics.targets import TARGET_SETTINGS, Targets
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(admin)
    return client


def add_target(client, kind: str, config) -> tuple[int, list[str]]:
    """The answer's status and the form's errors."""
    form = {
        "service": ServiceFactory(slug="task-service").pk,
        "kind": kind,
        "name": "task",
        "config": json.dumps(config),
    }
    response = client.post("/admin/diagnostics/target/add/", form)
    lists = re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    return response.status_code, [
        html.unescape(item) for block in lists for item in re.findall(r"<li>(.*?)</li>", block)
    ]


def test_every_problem_of_a_config_is_listed_with_its_key(admin_client):
    config = {"url": "ftp://prometheus", "labels": {}, "token": "s3cret", "metrics": {"a": 1}}
    status, errors = add_target(admin_client, "prometheus", config)
    assert status == 200
    assert sorted(errors) == [
        "config.labels: must be a non-empty mapping of label names to values",
        "config.metrics.a: must be text",
        "config.token: unknown key (put the token in an environment variable and name it with auth_header_env)",
        "config.url: must be an http:// or https:// URL",
    ]
    assert not Target.objects.exists()


def test_a_config_that_is_not_a_mapping_is_refused(admin_client):
    status, errors = add_target(admin_client, "postgres", ["ORION_TARGET_TASK_DB_DSN"])
    assert status == 200 and errors == ["config: must be a mapping of keys to values"]
    assert not Target.objects.exists()


def test_the_stored_config_is_the_validated_one(admin_client):
    config = {"in_cluster": True, "namespace": "orion-prod", "selector": "app=x", "context": None}
    status, errors = add_target(admin_client, "kubernetes", config)
    assert (status, errors) == (302, [])
    stored = Target.objects.get().config
    assert stored == {"in_cluster": True, "namespace": "orion-prod", "selector": "app=x", "actions": False}


def test_the_schema_has_one_model_per_target_kind():
    assert set(TARGET_SETTINGS) == set(Targets.kinds()) == set(TargetKind.values)
