"""Fixtures for the browser pages: signed-in Django clients per role, and Playwright on Debian's Chromium."""

from pathlib import Path

import pytest
from django.test import Client

from incidents.actors import Actor
from tests.factories import IncidentFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct horse battery staple"  # what UserFactory sets


@pytest.fixture
def signed_in():
    """A Django test client signed in as ``user`` (None: anonymous)."""

    def make(user, **kwargs) -> Client:
        client = Client(**kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def engineer_client(engineer, signed_in):
    return signed_in(engineer)


@pytest.fixture
def viewer_client(viewer, signed_in):
    return signed_in(viewer)


@pytest.fixture
def manager_client(manager, signed_in):
    return signed_in(manager)


@pytest.fixture
def role_user(db):
    """A user for a role name from a parametrized test: viewer / engineer / manager / outsider / anonymous."""

    def make(role: str):
        if role == "anonymous":
            return None
        return UserFactory(username=f"{role}-person", role=None if role == "outsider" else role)

    return make


@pytest.fixture
def incident(db, service):
    return IncidentFactory(title="Checkout returns 502", severity="P1", services=[service])


@pytest.fixture
def person_actor():
    def make(user):
        return Actor.for_user(user)

    return make


# Playwright -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium: `playwright install` cannot download here.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
