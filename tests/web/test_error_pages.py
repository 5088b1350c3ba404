"""403, 404 and 500 are proper pages for people (the API keeps its JSON errors)."""

import pytest
from django.template.loader import render_to_string
from django.test import Client


@pytest.mark.django_db
def test_user_without_role_gets_a_403_page_that_says_why(signed_in, outsider):
    response = signed_in(outsider).get("/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You can't do this here" in html and "no Orion Ops role" in html
    assert "Signed in as olga (no role)" in html and 'action="/accounts/logout/"' in html


@pytest.mark.django_db
def test_viewer_on_an_engineer_page_is_told_the_role_needed(viewer_client):
    response = viewer_client.get("/incidents/new/")
    assert (
        response.status_code == 403 and "This needs the engineer role; you are a viewer." in response.content.decode()
    )


@pytest.mark.django_db
def test_unknown_page_is_a_404_page(viewer_client):
    response = viewer_client.get("/no/such/page/")
    assert response.status_code == 404 and "/no/such/page/" in response.content.decode()


@pytest.mark.django_db
def test_anonymous_404_still_renders():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404 and "Nothing here" in response.content.decode()


def test_500_page_stands_alone():
    html = render_to_string("500.html")
    assert "Something broke on our side" in html and "{%" not in html and "<link" not in html


@pytest.mark.django_db
def test_api_errors_stay_json(viewer_client):
    response = viewer_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_an_ordinary_403_is_logged_as_one_line_without_a_traceback(viewer_client, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        response = viewer_client.get("/incidents/new/")
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == (
        "Forbidden: GET /incidents/new/ for vic: This needs the engineer role; you are a viewer."
    )
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_an_api_403_is_one_line_too(signed_in, outsider, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        response = signed_in(outsider).get("/api/v1/incidents/")
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1 and records[0].exc_info is None
