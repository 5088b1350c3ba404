"""Settings lookup, runbooks and the admin form for targets."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from diagnostics import conf
from diagnostics.admin import TargetForm
from diagnostics.collectors import COLLECTORS, postgres
from diagnostics.runbooks import runbook_get, runbooks_all
from tests.factories import ServiceFactory


def test_setting_beats_environment_beats_default(monkeypatch, settings):
    monkeypatch.delenv("DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS", raising=False)
    monkeypatch.delenv("DIAGNOSTICS_DEBOUNCE_SECONDS", raising=False)
    assert conf.collector_config("postgres").long_query_warn_seconds == 60
    assert conf.get("DEBOUNCE_SECONDS") == 120
    monkeypatch.setenv("DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS", "15")
    monkeypatch.setenv("DIAGNOSTICS_DEBOUNCE_SECONDS", "30")
    assert conf.collector_config("postgres").long_query_warn_seconds == 15
    assert conf.get("DEBOUNCE_SECONDS") == 30
    settings.DIAGNOSTICS_POSTGRES_LONG_QUERY_WARN_SECONDS = 5
    settings.DIAGNOSTICS_DEBOUNCE_SECONDS = 10
    assert conf.collector_config("postgres").long_query_warn_seconds == 5
    assert conf.get("DEBOUNCE_SECONDS") == 10


@pytest.mark.parametrize(
    ("variable", "raw", "read", "problem"),
    [
        ("DIAGNOSTICS_POSTGRES_CACHE_HIT_WARN_PERCENT", "most", "postgres", "expected a number, got 'most'"),
        ("DIAGNOSTICS_PROMETHEUS_CPU_CRIT", "high", "prometheus", "expected a number, got 'high'"),
        ("DIAGNOSTICS_KUBERNETES_LOG_TAIL_LINES", "-5", "kubernetes", "must be at least 0, got -5"),
        ("DIAGNOSTICS_MAX_RETRIES", "-1", "MAX_RETRIES", "must be at least 0, got -1"),
    ],
)
def test_bad_environment_values_fail_loudly(monkeypatch, variable, raw, read, problem):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ImproperlyConfigured) as caught:
        conf.collector_config(read) if read in COLLECTORS else conf.get(read)
    assert str(caught.value) == f"{variable}: {problem}"


@pytest.mark.parametrize(
    ("variable", "raw", "kind", "field", "value"),
    [
        ("DIAGNOSTICS_PROMETHEUS_ERROR_RATE_CRIT", "0.2", "prometheus", "error_rate_crit", 0.2),
        ("DIAGNOSTICS_PROMETHEUS_LEAK_MIN_POINTS", "20", "prometheus", "leak_min_points", 20),
        ("DIAGNOSTICS_KUBERNETES_RESTARTS_WARN", "7", "kubernetes", "restarts_warn", 7),
        ("DIAGNOSTICS_KUBERNETES_READ_TIMEOUT_SECONDS", "4.5", "kubernetes", "read_timeout_seconds", 4.5),
        ("DIAGNOSTICS_POSTGRES_STATEMENT_TIMEOUT_MS", "1500", "postgres", "statement_timeout_ms", 1500),
    ],
)
def test_every_collector_reads_its_knobs_from_the_environment(monkeypatch, variable, raw, kind, field, value):
    default = getattr(COLLECTORS[kind].config_class(), field)
    monkeypatch.delenv(variable, raising=False)
    assert getattr(conf.collector_config(kind), field) == default != value
    monkeypatch.setenv(variable, raw)
    assert getattr(conf.collector_config(kind), field) == value


def test_collector_settings_beat_the_environment(monkeypatch, settings):
    monkeypatch.setenv("DIAGNOSTICS_KUBERNETES_USAGE_WARN", "0.7")
    assert conf.collector_config("kubernetes").usage_warn == 0.7
    settings.DIAGNOSTICS_KUBERNETES_USAGE_WARN = 0.6
    assert conf.collector_config("kubernetes").usage_warn == 0.6


def test_a_collector_config_is_frozen():
    config = conf.collector_config("prometheus")
    with pytest.raises(AttributeError):
        config.error_rate_crit = 1.0


def test_every_knob_is_documented():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md").read_text()
    knobs = {f"DIAGNOSTICS_{name}" for name in conf.DEFAULTS}
    for kind, collector in COLLECTORS.items():
        knobs |= {f"DIAGNOSTICS_{kind.upper()}_{f.name.upper()}" for f in fields(collector.config_class)}
        knobs |= {f"DIAGNOSTICS_{kind.upper()}_SOFT_TIME_LIMIT", f"DIAGNOSTICS_{kind.upper()}_TIME_LIMIT"}
    documented = set(re.findall(r"DIAGNOSTICS_[A-Z0-9_]+", docs))
    assert sorted(knobs - documented) == []


def test_default_thresholds_follow_the_issue():
    t = conf.collector_config("postgres")
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
    names = set()
    for module in ("prometheus", "kubernetes", "logs"):
        source = (Path(__file__).resolve().parents[2] / "diagnostics" / "collectors" / f"{module}.py").read_text()
        names |= set(re.findall(r'runbook="([a-z0-9-]+)"', source))
    assert names >= {
        "high-error-rate",
        "memory-leak",
        "high-cpu",
        "service-not-starting",
        "db-connection-pool-exhausted",
    }
    for slug in names:
        assert runbook_get(slug) is not None, slug
