"""Between resolving as fixed and the worker's draft, the incident page and the API say the report is coming;
a draft that takes too long can be made by hand."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Report
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def awaiting_draft(engineer):
    """Resolved as fixed; the draft task is queued but no worker has run it."""
    incident = IncidentFactory(title="Checkout 5xx", severity="P1")
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="rolled back")
    return Incident.objects.get(pk=incident.pk)


def report_panel(client, incident) -> str:
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    start = html.index('id="panel-report"')
    return html[start : html.index("</section>", start)]


def test_the_panel_says_the_report_is_being_drafted(engineer_client, awaiting_draft):
    panel = report_panel(engineer_client, awaiting_draft)
    assert "Drafting the report…" in panel
    assert "Draft it now" not in panel and "Draft a report" not in panel  # it would only race the worker


def test_a_late_draft_can_be_made_by_hand(engineer_client, awaiting_draft):
    Incident.objects.filter(pk=awaiting_draft.pk).update(resolved_at=timezone.now() - timedelta(minutes=5))
    panel = report_panel(engineer_client, awaiting_draft)
    assert "Drafting the report…" in panel and "taking longer than usual" in panel and "Draft it now" in panel
    response = engineer_client.post(f"/incidents/{awaiting_draft.pk}/report/draft/")
    assert response.status_code == 302
    report = Report.objects.get(incident=awaiting_draft)
    assert "1. rolled back" in report.resolution
    assert "Open the report" in report_panel(engineer_client, awaiting_draft)


def test_the_report_page_and_the_api_say_it_is_being_drafted(engineer_client, engineer_api, awaiting_draft):
    page = engineer_client.get(f"/incidents/{awaiting_draft.pk}/report/").content.decode()
    assert "Drafting the report…" in page
    response = engineer_api.get(f"/api/v1/incidents/{awaiting_draft.pk}/report/")
    assert response.status_code == 404 and "being drafted" in response.json()["detail"]


def test_a_false_alarm_is_not_awaiting_a_draft(engineer_client, engineer):
    incident = IncidentFactory(severity="P1")
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="flap", resolution="false_alarm")
    panel = report_panel(engineer_client, incident)
    assert "Drafting" not in panel and "Draft a report" in panel
