"""The OpenAPI schema and docs page: for signed-in people with a role unless API_SCHEMA_PUBLIC (default: DEBUG)."""

import os
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from tests.conftest import ROOT, client_for
from tests.factories import UserFactory

SCHEMA = "/api/v1/schema/"
DOCS = "/api/v1/docs/"
OPENAPI = "application/vnd.oai.openapi+json"


@pytest.mark.django_db
def test_schema_needs_a_token_or_session_with_a_role(viewer, outsider):
    anonymous = APIClient().get(SCHEMA, HTTP_ACCEPT=OPENAPI)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Bearer"
    assert "paths" not in anonymous.content.decode()
    assert client_for(outsider).get(SCHEMA, HTTP_ACCEPT=OPENAPI).status_code == 403
    by_token = client_for(viewer).get(SCHEMA, HTTP_ACCEPT=OPENAPI)
    assert by_token.status_code == 200 and "/api/v1/incidents/" in by_token.json()["paths"]
    session = APIClient()
    session.force_login(viewer)
    assert session.get(SCHEMA, HTTP_ACCEPT=OPENAPI).status_code == 200


@pytest.mark.django_db
def test_docs_page_sends_anonymous_people_to_sign_in(client, viewer):
    response = client.get(DOCS)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/api/v1/docs/"
    assert client.get(f"{DOCS}?script=").status_code == 302
    client.force_login(viewer)
    assert client.get(DOCS).status_code == 200
    assert "SwaggerUIBundle" in client.get(f"{DOCS}?script=").content.decode()


@pytest.mark.django_db
def test_docs_page_refuses_people_without_a_role(client):
    client.force_login(UserFactory(username="no-role"))
    response = client.get(DOCS)
    assert response.status_code == 403 and b"no Orion Ops role" in response.content


@pytest.mark.django_db
def test_api_schema_public_opens_both_to_anyone(settings, client):
    settings.API_SCHEMA_PUBLIC = True
    schema = APIClient().get(SCHEMA, HTTP_ACCEPT=OPENAPI)
    assert schema.status_code == 200 and "/api/v1/incidents/" in schema.json()["paths"]
    assert client.get(DOCS).status_code == 200


@pytest.mark.parametrize(
    ("extra", "expected"), [({}, "False"), ({"DEBUG": "1"}, "True"), ({"API_SCHEMA_PUBLIC": "1"}, "True")]
)
def test_schema_is_public_by_default_only_with_debug(tmp_path, extra, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "API_SCHEMA_PUBLIC")}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.API_SCHEMA_PUBLIC)",
        ],
        cwd=ROOT,
        env={**env, "ORION_VAR_DIR": str(tmp_path), **extra},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip().splitlines()[-1] == expected, result.stderr
