"""Browser test helpers: sign in through the real login form, seed a realistic board."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.conftest import PASSWORD

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture
def new_context(browser):
    """``browser.new_context(**options)``, every context closed when the test ends, passed or failed:
    a page left open would keep polling the live server through the tests that follow."""
    contexts = []

    def make(**options):
        contexts.append(browser.new_context(**options))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(live_server):
    def go(page, username: str):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return go


@pytest.fixture
def board(transactional_db):
    """A board like a busy night: one of each severity, some acknowledged, one past its deadline."""
    now = timezone.now()
    alice = UserFactory(username="alice", role="engineer")
    checkout = ServiceFactory(slug="checkout", name="Checkout")
    notifications = ServiceFactory(slug="notification-service", name="Notification service")
    gateway = ServiceFactory(slug="api-gateway", name="API gateway")
    ServiceFactory(slug="search", name="Search")
    breached = IncidentFactory(
        title="Task queue backlog growing, workers idle",
        severity="P2",
        services=[notifications],
        detected_at=now - timedelta(hours=1, minutes=10),
    )
    acked = IncidentFactory(
        title="API gateway p95 latency above 2 s",
        severity="P1",
        services=[gateway],
        detected_at=now - timedelta(minutes=40),
    )
    lifecycle.transition(acked, "acknowledged", actor=Actor.for_user(alice), note="on it")
    lifecycle.transition(acked, "diagnosing", actor=Actor.for_user(alice))
    cosmetic = IncidentFactory(
        title="Footer shows last year's copyright", severity="P3", detected_at=now - timedelta(hours=5)
    )
    p1 = IncidentFactory(
        title="Checkout error rate 7.4% (5xx) since deploy 2026.11.3",
        severity="P1",
        services=[checkout, gateway],
        description="Grafana shows 5xx on POST /orders from 02:41.",
        detected_at=now - timedelta(minutes=3),
    )
    return {"p1": p1, "acked": acked, "breached": breached, "cosmetic": cosmetic, "alice": alice}
