"""A stale save never overwrites: the page answers 409, says someone saved since, and keeps what was typed."""

import pytest

from incidents import reports
from incidents.actors import Actor
from incidents.models import Report
from tests.factories import UserFactory
from tests.web.review.helpers import edit_data, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved_meanwhile(report):
    """Alice saves version 2 after erin opened version 1."""
    alice = UserFactory(username="alice", role="engineer")
    return reports.report_update(
        report=report, actor=Actor.for_user(alice), version=1, changes={"root_cause": "Alice: a slow migration."}
    )


def test_stale_save_keeps_text_and_shows_conflict(engineer_client, report, saved_meanwhile):
    stale = edit_data(report, version=1, root_cause="Erin: the pool was too small.", summary="Erin's summary")
    response = engineer_client.post(f"/incidents/{report.incident_id}/report/edit/", stale)

    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone saved this report since you opened it" in html
    assert "alice saved version 2" in html and "Nothing was overwritten" in html
    assert "Erin: the pool was too small.</textarea>" in html and "Erin&#x27;s summary</textarea>" in html
    assert "Alice: a slow migration." in html  # the saved text, shown to merge
    assert 'href="#section-root_cause"' in html
    stored = Report.objects.get(pk=report.pk)
    assert (stored.version, stored.root_cause, stored.summary) == (2, "Alice: a slow migration.", report.summary)
    # The re-rendered form carries the current version: saving again is a choice made with both texts in view.
    assert 'name="version" value="2"' in html


def test_saving_again_after_the_conflict_stores_the_merge(engineer_client, report, saved_meanwhile):
    merged = edit_data(saved_meanwhile, root_cause="Alice's migration held locks; the pool ran out.")
    response = engineer_client.post(f"/incidents/{report.incident_id}/report/edit/", merged)
    assert response.status_code == 302
    stored = Report.objects.get(pk=report.pk)
    assert (stored.version, stored.root_cause) == (3, "Alice's migration held locks; the pool ran out.")


def test_save_after_submission_is_refused_and_text_kept(engineer_client, report, engineer):
    submitted(report, engineer)
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/", edit_data(report, version=1, impact="Erin's late edit")
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "The report is in review" in html and "Your text was not saved" in html
    assert "Erin&#x27;s late edit</textarea>" in html and "readonly" in html
    assert Report.objects.get(pk=report.pk).impact == report.impact
