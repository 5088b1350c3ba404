import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from incidents.integrations import integration_create
from tests.app_server import AppServer
from tests.factories import ServiceFactory


@pytest.fixture
def alertmanager(db):
    """An Alertmanager integration and a client sending its bearer token."""
    integration, token = integration_create(name="prod alertmanager", kind="alertmanager")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.integration = integration
    client.token = token
    return client


@pytest.fixture
def events(db):
    integration, token = integration_create(name="pagerduty-style", kind="events")
    integration.token = token
    return integration


@pytest.fixture
def services(db):
    return {slug: ServiceFactory(slug=slug) for slug in ("task-service", "notification-service", "node-exporter")}


def post_alertmanager(client, body, **extra):
    return client.post("/api/v1/integrations/alertmanager/", body, format="json", **extra)


@pytest.fixture
def app_server(transactional_db, tmp_path):
    """Gunicorn (2 workers × 8 threads) on the test database: a real server for concurrent deliveries."""
    db_name = settings.DATABASES["default"]["NAME"]
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with AppServer({"DATABASE_URL": f"{base}/{db_name}"}, tmp_path / "gunicorn.log", workers=2, threads=8) as server:
        yield server
