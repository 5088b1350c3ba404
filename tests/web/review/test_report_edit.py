"""Editing a report in the browser: saving bumps its version, pins and hides timeline entries, previews render
without saving, and "Save and submit" does both."""

import pytest

from incidents import reports
from incidents.models import Report, TimelineKind
from tests.web.review.helpers import edit_data

pytestmark = pytest.mark.django_db


def test_save_stores_text_and_bumps_the_version(engineer_client, report):
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, root_cause="Pool sized for **2** replicas; we run 5.", title="Pool exhausted"),
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain == [(f"/incidents/{report.incident_id}/report/", 302)]
    assert "Report saved (version 2)." in html
    assert "Pool sized for <strong>2</strong> replicas; we run 5." in html
    stored = Report.objects.get(pk=report.pk)
    assert (stored.version, stored.title, stored.updated_by.username) == (2, "Pool exhausted", "erin")


def test_saving_unchanged_text_keeps_the_version(engineer_client, report):
    response = engineer_client.post(f"/incidents/{report.incident_id}/report/edit/", edit_data(report), follow=True)
    assert "Nothing changed since the last save." in response.content.decode()
    assert Report.objects.get(pk=report.pk).version == 1


def test_pin_a_note_and_hide_an_entry(engineer_client, report):
    timeline = report.incident.timeline
    note = timeline.get(kind=TimelineKind.NOTE)
    created = timeline.get(kind=TimelineKind.CREATED)
    assert note not in reports.report_timeline(report)

    engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, pinned_entries=[note.pk], hidden_entries=[created.pk]),
    )
    stored = Report.objects.get(pk=report.pk)
    assert (stored.pinned_entries, stored.hidden_entries) == ([note.pk], [created.pk])
    shown = reports.report_timeline(stored)
    assert note in shown and created not in shown
    assert timeline.count() == Report.objects.get(pk=report.pk).incident.timeline.count()  # append-only, untouched

    html = engineer_client.get(f"/incidents/{report.incident_id}/report/").content.decode()
    assert f'name="pinned_entries" value="{note.pk}" checked' in html
    assert f'name="hidden_entries" value="{created.pk}" checked' in html


def test_an_entry_cannot_be_pinned_and_hidden(engineer_client, report):
    note = report.incident.timeline.get(kind=TimelineKind.NOTE)
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, pinned_entries=[note.pk], hidden_entries=[note.pk], summary="typed"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "cannot be both pinned and hidden" in html and "typed</textarea>" in html
    assert Report.objects.get(pk=report.pk).version == 1


def test_entries_of_another_incident_are_refused(engineer_client, report, engineer):
    from tests.factories import IncidentFactory

    other = IncidentFactory().timeline.get()
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/", edit_data(report, pinned_entries=[other.pk])
    )
    assert response.status_code == 400
    assert f"Pin: Select a valid choice. {other.pk} is not one of the available choices." in response.content.decode()
    assert Report.objects.get(pk=report.pk).pinned_entries == []


def test_preview_button_renders_without_saving(engineer_client, report):
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, intent="preview", lessons_learned="- Alert on **saturation**, not on errors"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Preview only: nothing is saved yet." in html
    assert "<li>Alert on <strong>saturation</strong>, not on errors</li>" in html
    assert "- Alert on **saturation**, not on errors</textarea>" in html
    assert Report.objects.get(pk=report.pk).lessons_learned == "- _to fill_"


def test_preview_endpoint_answers_sanitised_html(engineer_client, report):
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/preview/", {"text": "**bold** <script>alert(1)</script>"}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    html = response.json()["html"]
    assert "<strong>bold</strong>" in html and "<script" not in html


def test_save_and_submit(engineer_client, report):
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, summary="Final.", intent="submit"),
        follow=True,
    )
    assert "submitted for review" in response.content.decode()
    stored = Report.objects.get(pk=report.pk)
    assert stored.status == "in_review" and stored.summary == "Final." and stored.submitted_by.username == "erin"
