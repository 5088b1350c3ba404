"""Signing in and out with Django's auth views: session rotated, POST-only logout, redirects."""

import pytest
from django.test import Client

from tests.web.conftest import PASSWORD


@pytest.mark.django_db
def test_login_page_renders_form():
    response = Client().get("/accounts/login/?next=/services/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'autocomplete="current-password"' in html
    assert 'name="next" value="/services/"' in html


@pytest.mark.django_db
def test_login_rotates_session_and_follows_next(engineer):
    client = Client()
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    response = client.post("/accounts/login/", {"username": "erin", "password": PASSWORD, "next": "/services/"})
    assert response.status_code == 302 and response["Location"] == "/services/"
    assert client.session.session_key != before
    assert client.get("/services/").status_code == 200


@pytest.mark.django_db
def test_login_refuses_offsite_next(engineer):
    response = Client().post(
        "/accounts/login/", {"username": "erin", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.django_db
def test_wrong_password_keeps_username_and_says_so(engineer):
    response = Client().post("/accounts/login/", {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'value="erin"' in html


@pytest.mark.django_db
def test_logout_is_post_only(engineer_client):
    assert engineer_client.get("/accounts/logout/").status_code == 405
    response = engineer_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert engineer_client.get("/").status_code == 302


@pytest.mark.django_db
def test_signed_in_user_visiting_login_goes_to_dashboard(engineer_client):
    response = engineer_client.get("/accounts/login/")
    assert response.status_code == 302 and response["Location"] == "/"
