"""Small things a new user meets: the favicon, the API docs' way back to the app."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_icon(live_server):
    import requests

    response = requests.get(f"{live_server.url}/favicon.ico", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert response.history and response.history[0].status_code == 302
    assert b"<svg" in response.content


@pytest.mark.django_db
def test_api_docs_link_back_to_the_app(viewer_client):
    response = viewer_client.get("/api/v1/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<a href="/">&larr; Orion Ops dashboard</a>' in html
    assert 'id="swagger-ui"' in html  # Swagger UI itself is still there


def test_favicon_needs_no_sign_in():
    assert Client().get("/favicon.ico").status_code == 302
