"""The HTTP probe collector against real loopback servers: each step, each failure, and the certificate."""

import datetime as dt
import re
import time

import pytest

from diagnostics.collectors.base import ConfigurationError, TargetSpec, Window
from diagnostics.collectors.http import HttpCollector, HttpConfig, health_failures, hostname_matches
from tests.probe_servers import HealthServer, Silent, closed_port, self_signed

NOW = dt.datetime.now(dt.UTC)
WINDOW = Window(start=NOW - dt.timedelta(minutes=15), now=NOW)


def probe(config: dict, **thresholds) -> dict[str, list[dict]]:
    target = TargetSpec(kind="http", name="task-service", config=config)
    findings = HttpCollector(config=HttpConfig(**thresholds)).collect(target, WINDOW)
    by_check: dict[str, list[dict]] = {}
    for finding in findings:
        by_check.setdefault(finding.check, []).append(finding.to_dict())
    return by_check


@pytest.fixture(scope="module")
def server():
    with HealthServer() as running:
        yield running


def test_healthy_endpoint_is_ok_with_each_step_timed(server):
    findings = probe({"url": f"{server.url}/health", "expect_status": 200, "timeout_seconds": 5})
    (result,) = findings["http.probe"]
    assert result["status"] == "ok" and result["subject"] == f"{server.url}/health"
    data = result["evidence"]["data"]
    assert data["step"] is None and data["status_code"] == 200 and data["addresses"] == ["127.0.0.1"]
    assert data["body_excerpt"] == '{"status": "ok"}'
    assert data["connect_ms"] is not None and data["response_ms"] is not None and data["tls_ms"] is None
    assert [row[0] for row in result["evidence"]["table"]["rows"]] == ["dns", "connect", "request"]
    assert result["summary"].startswith(f"{server.url}/health answered 200 in ")
    assert findings["http.certificate"][0]["status"] == "no_data"


def test_503_shows_the_health_body_and_what_it_reports_down(server):
    (result,) = probe({"url": f"{server.url}/unhealthy"})["http.probe"]
    assert result["status"] == "crit" and result["runbook"] == "dependency-unreachable"
    data = result["evidence"]["data"]
    assert (data["step"], data["error_code"], data["status_code"]) == ("status", "HTTP_503", 503)
    assert data["unhealthy_components"] == ["database"]
    assert '"database": {"status": "down", "error": "connect ECONNREFUSED 10.0.3.4:5432"}' in data["body_excerpt"]
    assert "answered 503 Service Unavailable" in result["summary"]
    assert "(expected 200); reports database unhealthy: " in result["summary"]
    assert result["remediation"].startswith("the service reports itself unavailable")


@pytest.mark.parametrize(
    ("path", "code", "status", "runbook", "meaning"),
    [
        ("/gateway", "HTTP_504", "crit", "dependency-unreachable", "a gateway timed out waiting for an upstream"),
        ("/crash", "HTTP_5XX", "crit", "high-error-rate", "the application failed"),
        ("/missing", "HTTP_4XX", "warn", None, "the request was refused"),
    ],
)
def test_status_classes_are_read_with_the_quick_reference(server, path, code, status, runbook, meaning):
    (result,) = probe({"url": f"{server.url}{path}"})["http.probe"]
    assert (result["status"], result["evidence"]["data"]["error_code"], result["runbook"]) == (status, code, runbook)
    assert result["remediation"].startswith(meaning)


def test_expected_status_other_than_200(server):
    (result,) = probe({"url": f"{server.url}/missing", "expect_status": 404})["http.probe"]
    assert result["status"] == "ok"


def test_a_server_that_never_answers_times_out_within_the_limit():
    with Silent() as silent:
        started = time.monotonic()
        (result,) = probe({"url": silent.url, "timeout_seconds": 1.5})["http.probe"]
        elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 3.0
    data = result["evidence"]["data"]
    assert (result["status"], data["step"], data["error_code"]) == ("crit", "request", "ETIMEDOUT")
    assert data["connect_ms"] < 1000  # connected: the path is open, the service does not answer
    assert "connected in" in result["summary"] and "ETIMEDOUT (no response within 1.5 s)" in result["summary"]
    assert result["remediation"].startswith("no answer in time")


def test_a_closed_port_is_refused():
    port = closed_port()
    (result,) = probe({"url": f"http://127.0.0.1:{port}/health"})["http.probe"]
    data = result["evidence"]["data"]
    assert (result["status"], data["step"], data["error_code"]) == ("crit", "connect", "ECONNREFUSED")
    assert result["summary"].startswith(f"TCP connect to 127.0.0.1:{port} failed: ECONNREFUSED after ")
    assert result["remediation"] == "nothing listens there: the service is not running or the port is wrong"
    assert result["runbook"] == "dependency-unreachable"


def test_a_name_that_does_not_resolve_is_enotfound():
    (result,) = probe({"url": "http://task-service.invalid/health", "timeout_seconds": 5})["http.probe"]
    data = result["evidence"]["data"]
    assert (result["status"], data["step"], data["error_code"]) == ("crit", "dns", "ENOTFOUND")
    assert data["addresses"] == [] and data["connect_ms"] is None
    assert result["summary"].startswith("DNS failed for task-service.invalid: ENOTFOUND after ")


def test_several_urls_each_get_a_finding(server):
    port = closed_port()
    findings = probe(
        {
            "urls": [
                f"{server.url}/health",
                {"url": f"http://127.0.0.1:{port}/", "name": "payments-api"},
                {"url": f"{server.url}/unhealthy", "expect_status": 503},
            ]
        }
    )
    statuses = [(f["evidence"]["data"]["name"], f["status"]) for f in findings["http.probe"]]
    assert statuses == [("127.0.0.1", "ok"), ("payments-api", "crit"), ("127.0.0.1", "ok")]


@pytest.fixture(scope="module")
def expiring(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1 that expires in five days."""
    folder = tmp_path_factory.mktemp("tls")
    cert = self_signed(folder, names=["localhost", "127.0.0.1"], not_after=NOW + dt.timedelta(days=5))
    with HealthServer(certificate=cert, host="localhost") as running:
        yield running, cert[0]


def test_expiring_self_signed_certificate_untrusted(expiring):
    server, _ = expiring
    findings = probe({"url": f"{server.url}/health"})
    (result,) = findings["http.probe"]
    data = result["evidence"]["data"]
    assert (result["status"], data["step"], data["error_code"]) == ("crit", "tls", "CERT_UNTRUSTED")
    assert "self-signed certificate" in data["error"]
    (cert,) = findings["http.certificate"]
    assert cert["status"] == "warn" and cert["subject"].startswith("localhost:")
    assert cert["evidence"]["data"]["self_signed"] is True and cert["evidence"]["data"]["name_matches"] is True
    assert 4.9 < cert["evidence"]["data"]["days_left"] <= 5
    assert cert["summary"].startswith(f"Certificate of {cert['subject']} expires in 5 days, is self-signed (")


def test_expiring_certificate_trusted_with_ca_file(expiring):
    server, cert_file = expiring
    findings = probe({"url": f"{server.url}/health", "ca_file": str(cert_file)})
    (result,) = findings["http.probe"]
    assert result["status"] == "ok" and result["evidence"]["data"]["tls_ms"] is not None
    assert [row[0] for row in result["evidence"]["table"]["rows"]] == ["dns", "connect", "tls", "request"]
    (cert,) = findings["http.certificate"]
    assert cert["status"] == "warn" and cert["evidence"]["threshold"] == 14
    (crit,) = probe({"url": f"{server.url}/health", "ca_file": str(cert_file)}, cert_crit_days=7)["http.certificate"]
    assert crit["status"] == "crit" and crit["summary"].startswith(
        f"Certificate of {crit['subject']} expires in 5.0 days"
    )


def test_certificate_for_another_name(tmp_path):
    cert = self_signed(tmp_path, names=["other.example"], not_after=NOW + dt.timedelta(days=90))
    with HealthServer(certificate=cert, host="localhost") as server:
        findings = probe({"url": f"{server.url}/health", "ca_file": str(cert[0])})
    (result,) = findings["http.probe"]
    assert result["evidence"]["data"]["error_code"] == "CERT_NAME_MISMATCH"
    (check,) = findings["http.certificate"]
    assert check["status"] == "crit" and "is not for localhost (names: other.example)" in check["summary"]


def test_expired_certificate(tmp_path):
    cert = self_signed(tmp_path, names=["localhost"], not_after=NOW - dt.timedelta(days=2))
    with HealthServer(certificate=cert, host="localhost") as server:
        findings = probe({"url": f"{server.url}/health", "ca_file": str(cert[0])})
    assert findings["http.probe"][0]["evidence"]["data"]["error_code"] == "CERT_EXPIRED"
    (check,) = findings["http.certificate"]
    assert check["status"] == "crit" and "expired 2 days ago" in check["summary"]


def test_unreadable_ca_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        probe({"url": "https://localhost/", "ca_file": str(tmp_path / "missing.pem")})


def test_hostname_matching_and_health_bodies():
    assert hostname_matches("api.example.com", ["*.example.com"])
    assert not hostname_matches("a.b.example.com", ["*.example.com"])
    assert not hostname_matches("example.com", ["*.example.com"])
    assert hostname_matches("127.0.0.1", ["127.0.0.1"])
    assert health_failures(
        '{"status": "DOWN", "components": {"db": {"status": "DOWN"}, "disk": {"status": "UP"}}}'
    ) == ["db"]
    assert health_failures('{"healthy": false, "dependencies": {"redis": false, "s3": true}}') == ["redis"]
    assert health_failures("<html>Service Unavailable</html>") == []


def test_every_runbook_the_probe_and_tracing_findings_name_exists():
    from pathlib import Path

    from diagnostics.runbooks import runbook_get

    named = set()
    for module in ("http", "tracing"):
        source = (Path(__file__).resolve().parents[2] / "diagnostics" / "collectors" / f"{module}.py").read_text()
        for line in source.splitlines():
            if "runbook" in line or "self._bad(" in line or line.strip().startswith(("CRIT,", "WARN,")):
                named |= set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', line))
    assert named >= {"slow-traces", "dependency-unreachable", "slow-queries", "high-error-rate"}
    for slug in named:
        runbook = runbook_get(slug)
        assert runbook is not None, slug
    assert {"http.probe", "http.certificate"} <= set(runbook_get("dependency-unreachable").applies_to)
    assert "tracing.slow_trace_breakdown" in runbook_get("slow-traces").applies_to


def test_an_errno_without_a_known_meaning_still_makes_a_finding():
    from diagnostics.collectors.http import CONNECT, Probe, ProbeResult

    result = ProbeResult(
        probe=Probe(url="http://10.0.0.9:8080/health", name="10.0.0.9", expect_status=200, timeout=5.0),
        host="10.0.0.9", port=8080, step=CONNECT, error_code="EADDRNOTAVAIL",
        error="Cannot assign requested address", addresses=["10.0.0.9"], timings={"dns": 0.1, "connect": 0.4},
    )  # fmt: skip
    finding = HttpCollector(config=HttpConfig()).probe_finding(result).to_dict()
    assert finding["status"] == "crit" and finding["runbook"] == "dependency-unreachable"
    assert finding["summary"].startswith("TCP connect to 10.0.0.9:8080 failed: EADDRNOTAVAIL after 0 ms")
