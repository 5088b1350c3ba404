"""/incidents/{id}/report/: the report in the template's structure, its review state, and why there is none."""

import re

import pytest

from incidents.models import Report
from tests.factories import IncidentFactory
from tests.web.review.helpers import item_for, resolved_incident, submitted

pytestmark = pytest.mark.django_db

SECTION_ORDER = ["Summary", "Timeline", "Root Cause", "Impact", "Resolution", "Action Items", "Lessons Learned"]


def headings(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<h2[^>]*>(.*?)</h2>", html, flags=re.S)]


def test_viewer_reads_the_report_in_the_template_structure(viewer_client, report, engineer):
    item_for(report.incident, engineer, title="Alert on pool saturation", owner=engineer)
    html = viewer_client.get(f"/incidents/{report.incident_id}/report/").content.decode()
    assert f"Incident Report:</span> {report.title}" in html
    for fact in ("Date", "Duration", "Severity", "Services affected"):
        assert f"<dt>{fact}</dt>" in html
    assert "P1 (High)" in html and '<span class="chip">task-service</span>' in html
    assert [h for h in headings(html) if h in SECTION_ORDER] == SECTION_ORDER
    # Markdown rendered: the drafted resolution is a numbered list, the timeline reads like the export.
    assert "<ol>\n<li>Scaled task-service to 5 replicas</li>" in html
    assert "erin acknowledged (looking)" in html
    assert "Alert on pool saturation" in html and "erin" in html
    assert "Read-only: your role (viewer)" in html
    assert 'name="summary"' not in html  # no editor for viewers
    assert f'href="/api/v1/incidents/{report.incident_id}/report.md"' in html
    assert f'href="/incidents/{report.incident_id}/report/print/"' in html


def test_engineer_gets_the_editor_with_version_and_previews(engineer_client, report):
    html = engineer_client.get(f"/incidents/{report.incident_id}/report/").content.decode()
    assert f'name="version" value="{report.version}"' in html
    for name in ("title", "summary", "root_cause", "impact", "resolution", "lessons_learned"):
        assert f'name="{name}"' in html
    assert 'data-preview-for="id_summary"' in html
    assert "Save and submit for review" in html
    assert "Approve report" not in html and "Request changes" not in html


def test_manager_sees_review_buttons_only_while_in_review(manager_client, engineer_client, report, engineer):
    url = f"/incidents/{report.incident_id}/report/"
    assert "Approve report" not in manager_client.get(url).content.decode()  # a draft
    submitted(report, engineer)
    html = manager_client.get(url).content.decode()
    assert "Approve report" in html and "Request changes…" in html
    engineer_html = engineer_client.get(url).content.decode()
    assert "Approve report" not in engineer_html and "Request changes" not in engineer_html
    assert "A manager approves it" in engineer_html and 'name="summary"' not in engineer_html


def test_printable_page_has_the_sections_and_no_controls(viewer_client, report):
    html = viewer_client.get(f"/incidents/{report.incident_id}/report/print/").content.decode()
    assert [h for h in headings(html) if h in SECTION_ORDER] == SECTION_ORDER
    assert "data-print" in html and "Approve" not in html and "<textarea" not in html


def test_without_report_the_page_says_why_and_offers_a_draft(engineer_client, engineer):
    incident = resolved_incident(engineer, severity="P3")
    html = engineer_client.get(f"/incidents/{incident.pk}/report/").content.decode()
    assert f"INC-{incident.pk} is P3, so it got no report automatically." in html
    assert "Draft a report" in html

    response = engineer_client.post(f"/incidents/{incident.pk}/report/draft/")
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/report/"
    assert Report.objects.get(incident=incident).status == "draft"


def test_open_incident_cannot_get_a_report_yet(engineer_client):
    incident = IncidentFactory(severity="P1")
    html = engineer_client.get(f"/incidents/{incident.pk}/report/").content.decode()
    assert "it is not resolved yet" in html and "Draft a report" not in html
    response = engineer_client.post(f"/incidents/{incident.pk}/report/draft/")
    assert response.status_code == 409 and not Report.objects.exists()


def test_false_alarm_explains_no_report(viewer_client, engineer):
    incident = resolved_incident(engineer, resolution="false_alarm")
    html = viewer_client.get(f"/incidents/{incident.pk}/report/").content.decode()
    assert "was resolved as false alarm, so it got no report automatically" in html
    assert "Draft a report" not in html  # viewers draft nothing


def test_incident_page_links_to_its_report_and_lists_action_items(viewer_client, report, engineer):
    item_for(report.incident, engineer, title="Add a pool saturation alert")
    html = viewer_client.get(f"/incidents/{report.incident_id}/").content.decode()
    assert 'id="panel-report"' in html and f'href="/incidents/{report.incident_id}/report/"' in html
    assert 'id="panel-action-items"' in html and "Add a pool saturation alert" in html
    assert "Add an action item" not in html  # viewers
