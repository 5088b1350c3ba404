"""The dashboard's one-second stamp: when any incident last changed, answered without the session."""

import re
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from incidents import lifecycle
from incidents.actors import Actor
from incidents.web import live
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def stamp_url(client) -> str:
    html = client.get("/").content.decode()
    return re.search(r'data-stamp-url="([^"]+)"', html)[1].replace("&amp;", "&")


def test_stamp_moves_when_an_incident_changes(viewer_client, engineer, monkeypatch):
    monkeypatch.setattr(live, "STAMP_CACHE_SECONDS", 0)
    incident = IncidentFactory()
    url = stamp_url(viewer_client)
    anonymous = Client()  # the page's token is the credential: no session needed
    before = anonymous.get(url).json()["changed"]
    assert before == int(incident.updated_at.timestamp() * 1000)
    time.sleep(0.01)
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    after = anonymous.get(url).json()["changed"]
    assert after > before


def test_stamp_with_a_token_touches_neither_session_nor_user(viewer_client, monkeypatch):
    IncidentFactory()
    url = stamp_url(viewer_client)
    viewer_client.get(url)  # the process now holds the stamp for STAMP_CACHE_SECONDS
    monkeypatch.setattr(live, "STAMP_CACHE_SECONDS", 60)
    with CaptureQueriesContext(connection) as ctx:
        response = viewer_client.get(url)
    assert response.status_code == 200
    assert len(ctx.captured_queries) == 0


def test_a_forged_token_is_403(viewer_client):
    response = Client().get("/dashboard/stamp/?t=1:forged")
    assert response.status_code == 403
    assert "Reload the page" in response.json()["detail"]


def test_without_a_token_the_session_decides(viewer_client):
    assert viewer_client.get("/dashboard/stamp/").status_code == 200
    assert Client().get("/dashboard/stamp/").status_code == 302  # to the login page
