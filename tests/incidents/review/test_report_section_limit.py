"""The API holds report sections to REPORT_SECTION_MAX_LENGTH, and drafted sections fit within it."""

import pytest

from incidents import lifecycle, reports
from incidents.actors import Actor
from incidents.models import REPORT_SECTION_MAX_LENGTH, Report, TimelineKind
from incidents.timeline import timeline_entry_add
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def resolved_with_mitigations(engineer, texts):
    incident = IncidentFactory(severity="P1", services=[ServiceFactory(slug="task-service")])
    actor = Actor.for_user(engineer)
    lifecycle.transition(incident, "acknowledged", actor=actor)
    for text in texts:
        timeline_entry_add(incident=incident, kind=TimelineKind.MITIGATION, actor=actor, text=text)
    lifecycle.transition(incident, "resolved", actor=actor, resolution="fixed", note="Pool size 10 → 20")
    return reports.report_draft_create(incident_id=incident.pk, force=True)


@pytest.mark.parametrize("field", ["summary", "root_cause", "impact", "resolution", "lessons_learned"])
def test_put_over_the_limit_is_400_naming_the_field(engineer, engineer_api, field):
    report = resolved_with_mitigations(engineer, ["Scaled task-service to 5 replicas"])
    url = f"/api/v1/incidents/{report.incident_id}/report/"
    response = engineer_api.put(url, {"version": 1, field: "x" * (REPORT_SECTION_MAX_LENGTH + 1)}, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [f"Ensure this field has no more than {REPORT_SECTION_MAX_LENGTH} characters."]}
    assert Report.objects.get(pk=report.pk).version == 1

    at_limit = engineer_api.put(url, {"version": 1, field: "x" * REPORT_SECTION_MAX_LENGTH}, format="json")
    assert at_limit.status_code == 200 and len(at_limit.json()[field]) == REPORT_SECTION_MAX_LENGTH


def test_a_long_drafted_section_is_cut_at_a_line_and_says_so(engineer, engineer_api):
    mitigations = [f"Step {n}: " + ("restarted the pool. " * 600).strip() for n in range(1, 4)]  # ~12,000 each
    report = resolved_with_mitigations(engineer, mitigations)
    assert len(report.resolution) <= REPORT_SECTION_MAX_LENGTH
    assert report.resolution.endswith(reports.CUT_NOTE)
    kept = report.resolution.removesuffix(reports.CUT_NOTE)
    assert kept.startswith("1. Pool size 10 → 20\n2. Step 1: ") and kept.endswith("restarted the pool.")
    assert "Step 3:" not in kept

    url = f"/api/v1/incidents/{report.incident_id}/report/"
    saved = engineer_api.put(url, {"version": 1, "resolution": report.resolution + " Checked."}, format="json")
    assert saved.status_code == 200


def test_short_drafted_sections_are_kept_whole(engineer):
    report = resolved_with_mitigations(engineer, ["Scaled task-service to 5 replicas"])
    assert report.resolution == "1. Pool size 10 → 20\n2. Scaled task-service to 5 replicas"
