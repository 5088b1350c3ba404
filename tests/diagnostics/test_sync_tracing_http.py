"""The targets file's tracing and http targets: accepted as documented, every mistake named by its path."""

import pytest

from diagnostics.models import Target
from tests.diagnostics.test_sync_services import sync, sync_errors

pytestmark = pytest.mark.django_db

GOOD = """
services:
  - slug: task-service
    name: Task service
    targets:
      tracing: {url: "http://jaeger-query:16686", service: task-service, min_duration_ms: 1000}
      http: {url: "http://task-service/health", expect_status: 200, timeout_seconds: 5}
  - slug: checkout
    name: Checkout
    targets:
      tracing: {url: "http://jaeger-query:16686", service: checkout-service, ui_url: "https://jaeger.example.com",
                auth_header_env: ORION_TARGET_JAEGER_AUTH}
      http:
        name: checkout-dependencies
        timeout_seconds: 2.5
        ca_file: /etc/orion/internal-ca.pem
        urls:
          - "http://checkout/health"
          - {url: "https://payments.internal/health", name: payments-api, expect_status: 204}
"""


def test_tracing_and_http_targets_are_stored_as_written(tmp_path):
    out, _ = sync(tmp_path, GOOD)
    targets = {(t.service.slug, t.kind): t for t in Target.objects.select_related("service")}
    assert set(targets) == {("task-service", "tracing"), ("task-service", "http"), ("checkout", "tracing"),
                            ("checkout", "http")}  # fmt: skip
    assert targets["task-service", "tracing"].config == {
        "url": "http://jaeger-query:16686",
        "service": "task-service",
        "min_duration_ms": 1000,
    }
    assert targets["task-service", "http"].config == {
        "url": "http://task-service/health",
        "expect_status": 200,
        "timeout_seconds": 5,
    }
    checkout = targets["checkout", "http"]
    assert checkout.name == "checkout-dependencies"
    assert checkout.config["urls"] == [
        {"url": "http://checkout/health"},
        {"url": "https://payments.internal/health", "name": "payments-api", "expect_status": 204},
    ]
    assert targets["checkout", "tracing"].config["auth_header_env"] == "ORION_TARGET_JAEGER_AUTH"
    # Idempotent: the same file again changes nothing.
    before = sorted((t.kind, t.name, str(t.config)) for t in Target.objects.all())
    sync(tmp_path, GOOD)
    assert sorted((t.kind, t.name, str(t.config)) for t in Target.objects.all()) == before


def test_every_mistake_is_named_by_its_path(tmp_path):
    errors = sync_errors(
        tmp_path,
        """
        services:
          - slug: a
            name: A
            targets:
              tracing: {url: "jaeger:16686", min_duration_ms: -5, token: abc}
              http: {url: "http://a/health", urls: ["http://b/"], expect_status: 700, timeout_seconds: 90}
          - slug: b
            name: B
            targets:
              http: {urls: ["ftp://b/", {name: x}, {url: "http://b/", expect_status: "200"}], timeout_seconds: 0}
          - slug: c
            name: C
            targets:
              http: {expect_status: 200}
              tracing: {url: "http://jaeger:16686", service: ""}
        """,
    )
    assert errors == [
        "services[0].targets.tracing.url: must be an http:// or https:// URL",
        "services[0].targets.tracing.service: required",
        "services[0].targets.tracing.min_duration_ms: must be a whole number of milliseconds (0 or more)",
        "services[0].targets.tracing.token: unknown key (put the token in an environment variable and name it "
        "with auth_header_env)",
        "services[0].targets.http.expect_status: must be an HTTP status code (100-599)",
        "services[0].targets.http.timeout_seconds: must be a number of seconds above 0 and at most 30",
        "services[0].targets.http: give either url or urls, not both",
        "services[1].targets.http.urls[0].url: must be an http:// or https:// URL",
        "services[1].targets.http.urls[1].url: required",
        "services[1].targets.http.urls[2].expect_status: must be an HTTP status code (100-599)",
        "services[1].targets.http.timeout_seconds: must be a number of seconds above 0 and at most 30",
        "services[2].targets.tracing.service: must be non-empty text",
        "services[2].targets.http.url: required (or urls: a list of URLs)",
    ]


def test_too_many_urls_are_refused(tmp_path):
    urls = ", ".join(f'"http://svc-{i}/health"' for i in range(21))
    errors = sync_errors(tmp_path, f"services:\n  - {{slug: a, name: A, targets: {{http: {{urls: [{urls}]}}}}}}\n")
    assert errors == ["services[0].targets.http.urls: at most 20 URLs per target"]
