"""Settings lookup, runbooks and the admin form for targets."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from diagnostics import conf
from diagnostics.admin import TargetForm
from diagnostics.collectors import postgres
from diagnostics.runbooks import runbook_get, runbooks_all
from tests.factories import ServiceFactory


def test_setting_beats_environment_beats_default(monkeypatch, settings):
    monkeypatch.delenv("DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS", raising=False)
    assert conf.get("POSTGRES_LONG_QUERY_WARN_SECONDS") == 60
    monkeypatch.setenv("DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS", "15")
    assert conf.get("POSTGRES_LONG_QUERY_WARN_SECONDS") == 15
    settings.DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS = 5
    assert conf.get("POSTGRES_LONG_QUERY_WARN_SECONDS") == 5
    assert conf.PostgresThresholds.from_settings().long_query_warn_seconds == 5


def test_bad_environment_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("DIAGNOSTICS_POSTGRES_CACHE_HIT_WARN_PERCENT", "most")
    with pytest.raises(ImproperlyConfigured, match="DIAGNOSTICS_POSTGRES_CACHE_HIT_WARN_PERCENT: expected a number"):
        conf.get("POSTGRES_CACHE_HIT_WARN_PERCENT")
    monkeypatch.setenv("DIAGNOSTICS_MAX_RETRIES", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        conf.get("MAX_RETRIES")


def test_default_thresholds_follow_the_issue():
    t = conf.PostgresThresholds.from_settings()
    assert (t.connections_warn_percent, t.connections_crit_percent) == (80, 90)
    assert t.long_query_warn_seconds == 60
    assert (t.slow_query_mean_ms, t.slow_query_min_calls) == (20, 100)
    assert t.missing_index_min_rows == 10000
    assert t.cache_hit_warn_percent == 99


def test_every_runbook_a_finding_names_exists():
    slugs = {value for name, value in vars(postgres).items() if name.startswith("RUNBOOK_")}
    assert slugs == {"db-connection-pool-exhausted", "slow-queries", "db-migration-failure", "db-maintenance"}
    for slug in slugs:
        runbook = runbook_get(slug)
        assert runbook is not None and runbook.version >= 1 and runbook.body.strip()
        assert runbook.url == f"/runbooks/{slug}/"
    assert runbook_get("db-migration-failure").title == "DB migration failure"
    assert "npx prisma migrate resolve --rolled-back" in runbook_get("db-migration-failure").body
    assert "P2024" in runbook_get("db-connection-pool-exhausted").body
    assert runbook_get("../settings") is None and runbook_get("nope") is None
    assert {r.slug for r in runbooks_all()} >= slugs | {
        "high-error-rate",
        "memory-leak",
        "high-cpu",
        "service-not-starting",
    }


@pytest.mark.django_db
def test_admin_form_validates_target_config():
    service = ServiceFactory(slug="task-service")
    bad = TargetForm(data={"service": service.pk, "kind": "postgres", "name": "db", "config": '{"dsn": "x"}'})
    assert not bad.is_valid()
    assert "config.dsn_env: required" in bad.errors["__all__"]
    good = TargetForm(
        data={"service": service.pk, "kind": "postgres", "name": "db", "config": '{"dsn_env": "ORION_TARGET_DB"}'}
    )
    assert good.is_valid(), good.errors
    assert good.save().config == {"dsn_env": "ORION_TARGET_DB"}


def test_every_runbook_a_collector_names_exists():
    import re
    from pathlib import Path

    names = set()
    for module in ("prometheus", "kubernetes", "logs"):
        source = (Path(__file__).resolve().parents[2] / "diagnostics" / "collectors" / f"{module}.py").read_text()
        names |= set(re.findall(r'runbook="([a-z0-9-]+)"', source))
        names |= set(re.findall(r'"([a-z0-9-]+)" if status != "ok" else None', source))
    assert names >= {
        "high-error-rate",
        "memory-leak",
        "high-cpu",
        "service-not-starting",
        "db-connection-pool-exhausted",
    }
    for slug in names:
        assert runbook_get(slug) is not None, slug
