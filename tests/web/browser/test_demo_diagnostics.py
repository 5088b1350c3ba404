"""The seeded demo in Chromium: the pool P0 shows findings, charts, trace and runbook links, labelled as recorded."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from incidents.models import Incident, Source
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_the_demo_incident_shows_recorded_findings_charts_and_runbooks(page, live_server, sign_in, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    UserFactory(username="erin", role="engineer")
    pool = Incident.objects.get(severity="P0", status="diagnosing")
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{pool.pk}/")

    panel = page.locator(".diagnostics")
    expect(panel.locator(".diagnostics-recorded-note")).to_contain_text("Recorded demo data")
    expect(panel.locator(".diagnostics-recorded-badge")).to_have_count(5)
    expect(panel.locator("article.diagnostics-target h3")).to_have_count(5)
    charts = panel.locator("figure.diagnostics-chart")
    assert charts.count() >= 3
    expect(charts.first.locator("polyline.chart-series").first).to_be_visible()
    expect(panel.locator('li[data-check^="kubernetes.logs.pattern."]').first).to_be_visible()
    # Where the slow traces spend their time, with links to open them in Jaeger.
    breakdown = panel.locator('li[data-check="tracing.slow_trace_breakdown"]')
    expect(breakdown).to_contain_text("slow-trace time is in PostgreSQL")
    breakdown.locator("summary").first.click()
    expect(breakdown.locator(".diagnostics-trace-links a").first).to_have_attribute(
        "href", re.compile(r"^http://jaeger-query\.observability:16686/trace/[0-9a-f]{32}$")
    )
    probe = panel.locator('li[data-check="http.probe"]', has_text="503")
    expect(probe).to_be_visible()
    expect(probe).to_contain_text("reports database unhealthy")
    # The likely cause, computed from the recorded findings by the real rules.
    expect(page.locator("[data-causes]")).to_contain_text("Connection pool exhausted")
    # Nothing can be run live against the demo's services.
    expect(page.get_by_role("button", name="Run again")).to_be_disabled()

    link = panel.locator(".diagnostics-runbook a", has_text="connection pool").first
    link.click()
    expect(page.locator("h1")).to_contain_text("pool", ignore_case=True)

    crash = Incident.objects.get(source=Source.EVENTS)
    page.goto(f"{live_server.url}/incidents/{crash.pk}/")
    expect(page.locator(".diagnostics-finding", has_text="CrashLoopBackOff").first).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Recorded demo data")
