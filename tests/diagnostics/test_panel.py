"""The incident page's Diagnostics panel, rendered with Django's template engine."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from diagnostics.models import DiagnosticRun, Target
from incidents import panels
from tests.diagnostics.test_runs import FINDINGS
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db

EVIDENCE_TABLE = {"columns": ["application", "user", "state", "connections"], "rows": [["api", "app", "idle", 15]]}
PANEL_FINDINGS = [
    {**FINDINGS[1]},
    {**FINDINGS[0], "evidence": {**FINDINGS[0]["evidence"], "table": EVIDENCE_TABLE}},
    {"check": "postgres.dead_tuples", "status": "warn", "summary": "public.churn has 30,000 dead tuples",
     "subject": "public.churn", "evidence": {"query": "SELECT n_dead_tup FROM pg_stat_user_tables", "observed": 30000,
     "threshold": {"min_dead": 10000}, "unit": "dead tuples"}, "remediation": "VACUUM (ANALYZE) public.churn;",
     "runbook": "db-maintenance"},
    {"check": "postgres.prisma_migrations", "status": "error", "summary": "Check could not run: permission denied",
     "subject": "", "evidence": {"query": "SELECT 3", "observed": None, "threshold": None, "unit": ""},
     "remediation": "", "runbook": None},
]  # fmt: skip


@pytest.fixture
def incident(db):
    service = ServiceFactory(slug="task-service")
    target = Target.objects.create(
        service=service, kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_X"}
    )
    incident = IncidentFactory(services=[service])
    now = timezone.now()
    DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="incident_created",
        status="succeeded", findings=PANEL_FINDINGS, checks_total=4, checks_done=4, started_at=now, finished_at=now,
    )  # fmt: skip
    DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="on_demand",
        status="running", findings=PANEL_FINDINGS[:1], checks_total=5, checks_done=3, started_at=now,
    )  # fmt: skip
    return incident


def render(incident, user):
    request = RequestFactory().get(f"/incidents/{incident.pk}/")
    request.user = user
    (panel,) = [p for p in panels.registered() if p.key == "diagnostics"]
    context = {"incident": incident, "request": request, **panel.context(request, incident)}
    return render_to_string(panel.template, context, request=request)


def test_panel_is_registered_for_the_incident_page():
    (panel,) = [p for p in panels.registered() if p.key == "diagnostics"]
    assert (panel.title, panel.template, panel.order) == ("Diagnostics", "diagnostics/_incident_panel.html", 20)


def test_runs_show_progress_and_findings_worst_first(incident, engineer):
    html = render(incident, engineer)
    assert "3 of 5 checks done" in html and "4 of 4 checks done" in html
    assert html.index("3 of 5 checks done") < html.index("4 of 4 checks done")  # newest run first
    finished = html[html.index("4 of 4 checks done") :]
    order = [finished.index(f"<h4>{status}") for status in ("CRIT (1)", "ERROR (1)", "WARN (1)", "OK (1)")]
    assert order == sorted(order)
    assert "1 earlier run" in html


def test_evidence_shows_the_query_the_table_and_the_runbook(incident, engineer):
    html = render(incident, engineer)
    assert "<pre><code>SELECT n_dead_tup FROM pg_stat_user_tables</code></pre>" in html
    assert '<th scope="col">application</th>' in html and "<td>15</td>" in html
    assert 'href="/runbooks/db-connection-pool-exhausted/">DB connection pool exhausted</a>' in html
    assert "VACUUM (ANALYZE) public.churn;" in html
    assert "threshold: min_dead 10000" in html


def test_engineer_gets_run_again_with_csrf_and_no_inline_script(incident, engineer):
    html = render(incident, engineer)
    assert "Run again</button>" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'data-diagnostics-url="/api/v1/incidents/{incident.pk}/diagnostics/"' in html
    assert "data-live-pending" in html  # the page's live channel keeps polling fast while runs are active
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "</script>" in html and re.search(r"<script[^>]*>\s*</script>", html)


def test_viewer_sees_runs_without_the_button(incident, viewer):
    html = render(incident, viewer)
    assert "Run again" not in html
    assert "postgres.connection_saturation" in html


def test_incident_without_targets_explains_how_to_add_them(viewer):
    bare = IncidentFactory(services=[])
    html = render(bare, viewer)
    assert "No diagnostics yet." in html and "manage.py sync_services" in html


def test_static_assets_exist():
    static = Path(settings.BASE_DIR) / "static" / "diagnostics"
    script = (static / "panel.js").read_text()
    assert "X-CSRFToken" in script and 'method: "POST"' in script
    assert (static / "panel.css").is_file()
