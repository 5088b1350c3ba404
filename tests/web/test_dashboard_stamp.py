"""The dashboard's one-second stamp: when any incident last changed, answered without the session."""

import json
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


def wsgi_get(path: str, query: str = "", host: str = "testserver") -> tuple[str, dict, bytes]:
    """One GET through the WSGI application gunicorn serves (orion_ops.wsgi.application)."""
    from wsgiref.util import setup_testing_defaults

    from orion_ops.wsgi import application

    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET", "HTTP_HOST": host}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


def test_the_stamp_is_answered_before_django_with_the_same_value(viewer, monkeypatch, settings):
    from django.core.signals import request_started

    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr(live, "_stamp", (time.monotonic(), 1_764_000_000_123))
    monkeypatch.setattr(live, "STAMP_CACHE_SECONDS", 60)  # held by the process: no query, no connection
    started = []
    request_started.connect(started.append, dispatch_uid="stamp-test")
    try:
        status, headers, body = wsgi_get("/dashboard/stamp/", f"t={live.stamp_token(viewer)}")
    finally:
        request_started.disconnect(dispatch_uid="stamp-test")
    assert status == "200 OK" and json.loads(body) == {"changed": 1_764_000_000_123}
    assert headers["Content-Type"] == "application/json" and "no-store" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert started == []  # Django's request cycle never ran


def test_what_the_fast_path_cannot_judge_goes_to_django(viewer, monkeypatch, settings):
    from wsgiref.util import setup_testing_defaults

    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr(live, "_stamp", (time.monotonic(), 1))
    monkeypatch.setattr(live, "STAMP_CACHE_SECONDS", 60)
    status, _, body = wsgi_get("/dashboard/stamp/", "t=1:forged")
    assert status.startswith("403") and b"Reload the page" in body
    assert wsgi_get("/dashboard/stamp/")[0].startswith("302")  # no token: the session decides, via Django
    token = f"t={live.stamp_token(viewer)}"
    assert wsgi_get("/dashboard/stamp/", token, host="evil.example")[0].startswith("400")  # Django's host check
    # Plain HTTP where HTTPS is required is left to Django's redirect (unless the proxy says it was HTTPS).
    settings.SECURE_SSL_REDIRECT = True
    plain = {
        "PATH_INFO": "/dashboard/stamp/",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": token,
        "HTTP_HOST": "testserver",
    }
    setup_testing_defaults(plain)  # a plain-HTTP environ, as a server passes it
    assert live._stamp_answer(plain) is None
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert live._stamp_answer({**plain, "HTTP_X_FORWARDED_PROTO": "https"})[0] == "200 OK"
