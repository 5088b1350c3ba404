"""Filing an incident: criteria beside severity, errors inline, what was typed kept."""

import pytest

from incidents.models import Incident, TimelineEntry
from tests.factories import ServiceFactory


@pytest.mark.django_db
def test_form_shows_criteria_and_targets_beside_each_severity(engineer_client):
    html = engineer_client.get("/incidents/new/").content.decode()
    for text in (
        "Outage, data loss or corruption, security breach.",
        "error rate above 5 %",
        "Minor functionality broken",
        "Minor bug or cosmetic issue.",
        "acknowledge within 5 min",
        "acknowledge within 15 min",
        "acknowledge within 1 h",
        "acknowledge within 24 h",
    ):
        assert text in html


@pytest.mark.django_db
def test_errors_are_inline_and_input_is_kept(engineer_client):
    checkout = ServiceFactory(slug="checkout")
    response = engineer_client.post(
        "/incidents/new/",
        {"title": "   ", "services": [checkout.pk], "description": "502s on POST /orders since 02:41"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The incident was not filed" in html
    assert "This field is required." in html  # severity, next to its fieldset
    assert "502s on POST /orders since 02:41</textarea>" in html
    assert f'name="services" value="{checkout.pk}" id="id_services_0" checked>' in html
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_severity_choice_is_kept_when_title_missing(engineer_client):
    response = engineer_client.post("/incidents/new/", {"title": "", "severity": "P1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert '<input type="radio" name="severity" value="P1" id="id_severity_1" required checked>' in html
    assert html.count(" checked>") == 1
    assert "Give the incident a title." in html or "This field is required." in html


@pytest.mark.django_db
def test_filing_creates_incident_and_redirects_to_it(engineer_client, engineer):
    checkout = ServiceFactory(slug="checkout")
    response = engineer_client.post(
        "/incidents/new/",
        {"title": "Checkout 5xx above 5%", "severity": "P1", "services": [checkout.pk], "description": "since deploy"},
        follow=True,
    )
    incident = Incident.objects.get()
    assert response.redirect_chain[-1][0] == f"/incidents/{incident.pk}/"
    assert incident.severity == "P1" and list(incident.services.all()) == [checkout]
    assert incident.created_by == engineer
    html = response.content.decode()
    assert f"INC-{incident.pk} filed as P1. Acknowledge within 15 min" in html
    assert TimelineEntry.objects.filter(incident=incident, kind="created", actor_name="erin").exists()
