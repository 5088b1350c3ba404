"""A report section holds at most REPORT_SECTION_MAX_LENGTH characters: saving and previewing more is refused with
the reason, and a section saved longer before the limit existed still shows and can be shortened."""

import time

import pytest

from incidents.models import REPORT_SECTION_MAX_LENGTH, Report
from tests.web.review.helpers import edit_data

pytestmark = pytest.mark.django_db

OVER = "x" * (REPORT_SECTION_MAX_LENGTH + 1)
REFUSAL = f"A section holds at most {REPORT_SECTION_MAX_LENGTH:,} characters; this one has"


def edit(client, report, **changes):
    return client.post(f"/incidents/{report.incident_id}/report/edit/", edit_data(report, **changes))


def preview(client, report, text):
    return client.post(f"/incidents/{report.incident_id}/report/preview/", {"text": text})


def test_saving_a_section_over_the_limit_is_refused_with_the_reason(engineer_client, report):
    response = edit(engineer_client, report, root_cause=OVER, summary="Also typed")
    assert response.status_code == 400
    html = response.content.decode()
    assert f"{REFUSAL} {REPORT_SECTION_MAX_LENGTH + 1}." in html
    assert "Also typed</textarea>" in html  # what was typed stays on the page
    assert f"No preview: {REPORT_SECTION_MAX_LENGTH + 1:,} characters" in html  # and is not rendered
    stored = Report.objects.get(pk=report.pk)
    assert stored.version == 1 and stored.root_cause != OVER


def test_a_section_at_the_limit_saves_with_browser_line_breaks_counted_once(engineer_client, report):
    text = "\n".join(["y" * 99] * (REPORT_SECTION_MAX_LENGTH // 100))
    text += "z" * (REPORT_SECTION_MAX_LENGTH - len(text))
    typed = text.replace("\n", "\r\n")  # as the browser sends it
    assert len(typed) > REPORT_SECTION_MAX_LENGTH
    response = edit(engineer_client, report, impact=typed)
    assert response.status_code == 302
    stored = Report.objects.get(pk=report.pk)
    assert stored.impact == text


def test_preview_over_the_limit_is_400_with_the_reason(engineer_client, report):
    response = preview(engineer_client, report, OVER)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": f"{REFUSAL} {REPORT_SECTION_MAX_LENGTH + 1}. Shorten it, or link long logs rather than pasting them."
    }


def test_preview_of_pathological_text_at_the_limit_answers_promptly(engineer_client, report):
    started = time.thread_time()
    response = preview(engineer_client, report, "[" * REPORT_SECTION_MAX_LENGTH)
    elapsed = time.thread_time() - started
    assert response.status_code == 200 and response.json()["html"] == "<p>" + "[" * REPORT_SECTION_MAX_LENGTH + "</p>"
    assert elapsed < 2.0, f"preview took {elapsed:.1f} s"


def test_a_section_saved_longer_before_the_limit_still_shows_and_can_be_shortened(
    engineer_client, viewer_client, report
):
    legacy = "Long write-up. " * 4000  # 60,000 characters: the old limit allowed 50,000 and more by API
    Report.objects.filter(pk=report.pk).update(root_cause=legacy)
    report.refresh_from_db()

    page = viewer_client.get(f"/incidents/{report.incident_id}/report/")
    assert page.status_code == 200 and "<p>Long write-up. Long write-up." in page.content.decode()

    editor = engineer_client.get(f"/incidents/{report.incident_id}/report/").content.decode()
    assert f"No preview: {len(legacy):,} characters, over the limit of {REPORT_SECTION_MAX_LENGTH:,}." in editor

    assert edit(engineer_client, report, title="Untouched section").status_code == 400
    assert edit(engineer_client, report, root_cause="Short now.").status_code == 302
    assert Report.objects.get(pk=report.pk).root_cause == "Short now."
