"""deploy/prometheus/orion-rules.yml: valid for promtool, and its alerts fire when (and only when) they should.

The unit tests are in orion-rules.test.yml (synthetic series, expected alerts);
promtool comes with the Debian prometheus package that scripts/test installs.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = PROMETHEUS / "orion-rules.yml"
ALERTS = {
    "OrionPendingPayloadBacklog",
    "OrionFailedPayloads",
    "OrionCollectorFailing",
    "OrionDeliveryFailures",
    "OrionSlaBreachRate",
    "OrionNoBeatHeartbeat",
}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (scripts/test installs the prometheus package)")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_rules_pass_promtool_check():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_pass_their_unit_tests():
    result = promtool("test", "rules", "orion-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def rules() -> dict[str, dict]:
    return {rule["alert"]: rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}


def test_the_alerts_operators_need_are_there_and_unit_tested():
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS / "orion-rules.test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert set(rules()) >= ALERTS
    assert set(rules()) <= tested, "an alert without a unit test that makes it fire"
    for name, rule in rules().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#"), name


def test_every_runbook_anchor_exists_in_the_operations_guide():
    guide = (PROMETHEUS.parent.parent / "docs" / "operations.md").read_text().lower()
    for name, rule in rules().items():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        heading = anchor.replace("-", " ")
        assert f"### {heading}" in guide, f"{name}: no '### {heading}' heading in docs/operations.md"


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path):
    """Control: promtool does compare; a test expecting the backlog alert too early fails."""
    shutil.copy(RULES, tmp_path / RULES.name)
    tests = yaml.safe_load((PROMETHEUS / "orion-rules.test.yml").read_text())
    backlog = tests["tests"][0]["alert_rule_test"]
    backlog[0]["exp_alerts"] = backlog[1]["exp_alerts"]  # expected at 4 min: it needs 5 min of backlog first
    (tmp_path / "broken.test.yml").write_text(yaml.safe_dump(tests))

    result = promtool("test", "rules", "broken.test.yml", cwd=tmp_path)

    assert result.returncode != 0


def test_a_broken_rule_is_rejected(tmp_path):
    data = yaml.safe_load(RULES.read_text())
    data["groups"][0]["rules"][0]["expr"] = "up{job= == 0"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(data))

    result = promtool("check", "rules", "broken.yml", cwd=tmp_path)

    assert result.returncode != 0
