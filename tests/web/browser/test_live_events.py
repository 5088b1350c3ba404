"""The dashboard on its event stream (server-sent events from orion_ops.events under a real uvicorn): a new
incident shows with no timer running at all, the one-second check rests while the stream is open, and
takes over when the stream's server goes away."""

import copy

import pytest
from playwright.sync_api import expect

from tests.app_server import EventsServer
from tests.factories import IncidentFactory, UserFactory

STREAM = "/dashboard/events/"
CHECK = "/dashboard/stamp/"


@pytest.fixture
def events_server(live_server, settings, tmp_path):
    """The stream's server, named by the page (another origin, so the policy lets the page connect to it)."""
    with EventsServer(tmp_path / "events.log") as server:
        settings.LIVE_EVENTS_URL = f"{server.url}{STREAM}"
        policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        policy["DIRECTIVES"]["connect-src"] = ["'self'", server.url]
        settings.CONTENT_SECURITY_POLICY = policy
        yield server
    assert "Traceback" not in (tmp_path / "events.log").read_text()


def dashboard_open(page, live_server, sign_in) -> dict[str, list[str]]:
    """Vic's dashboard with the page clock paused (no timer fires unless the test says so); the stream's
    and the check's requests, as they are made."""
    requested = {STREAM: [], CHECK: []}
    page.on("request", lambda r: [urls.append(r.url) for path, urls in requested.items() if path in r.url])
    sign_in(page, "vic")
    page.clock.install()
    page.goto(f"{live_server.url}/")
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)
    return requested


@pytest.mark.django_db(transaction=True)
def test_dashboard_follows_the_stream_then_falls_back_to_the_check(page, live_server, sign_in, events_server):
    UserFactory(username="vic", role="viewer")
    IncidentFactory(title="Dark mode contrast", severity="P3")
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    requested = dashboard_open(page, live_server, sign_in)
    rows = page.locator("tr.incident-row")
    expect(rows).to_have_count(1)
    page.wait_for_function("() => true")
    assert requested[STREAM], "the page did not open the stream"
    assert "t=" in requested[STREAM][-1]

    # Let the stream open, then half a minute of page time: the poller backs off, the check rests.
    page.wait_for_timeout(1_500)
    checks = len(requested[CHECK])
    for _ in range(30):
        page.clock.run_for(1_000)
    page.evaluate("1")
    assert len(requested[CHECK]) == checks, "the page checked the stamp while its stream was open"

    # With the clock paused the poller cannot fire by itself: only the stream can bring the row.
    IncidentFactory(title="Payments failing for EU cards", severity="P1")
    expect(rows).to_have_count(2, timeout=5_000)
    expect(rows.first).to_contain_text("Payments failing for EU cards")

    # The stream's server goes away: the one-second check takes over.
    events_server.stop()
    page.wait_for_timeout(500)
    IncidentFactory(title="Checkout latency P95 2.4 s", severity="P0")
    for _ in range(3):
        page.clock.run_for(1_000)
    expect(rows).to_have_count(3, timeout=5_000)
    expect(rows.first).to_contain_text("Checkout latency P95 2.4 s")
    assert len(requested[CHECK]) > checks, "the check did not take over"
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.mark.django_db(transaction=True)
def test_a_refused_stream_leaves_the_page_on_its_check(page, live_server, sign_in, events_server, settings):
    UserFactory(username="vic", role="viewer")
    IncidentFactory(title="Dark mode contrast", severity="P3")
    settings.LIVE_EVENTS_URL = f"{events_server.url}/not-the-stream/"  # answered 404: EventSource gives up
    requested = dashboard_open(page, live_server, sign_in)
    page.wait_for_timeout(1_000)
    checks = len(requested[CHECK])
    IncidentFactory(title="Payments failing for EU cards", severity="P1")
    for _ in range(3):
        page.clock.run_for(1_000)
    expect(page.locator("tr.incident-row")).to_have_count(2, timeout=5_000)
    assert len(requested[CHECK]) >= checks + 2


@pytest.mark.django_db(transaction=True)
def test_a_stream_gone_silent_is_reopened_and_the_check_covers_the_gap(page, live_server, sign_in, events_server):
    """The stream sends the stamp again every 15 s; one that looks open but says nothing for 45 s (a
    laptop resumed, a NAT entry dropped) is closed, the check takes over, and it is opened again."""
    UserFactory(username="vic", role="viewer")
    requested = dashboard_open(page, live_server, sign_in)
    page.wait_for_timeout(1_500)  # open, and quiet: its next keepalive is 15 real seconds away
    streams, checks = len(requested[STREAM]), len(requested[CHECK])
    for _ in range(44):
        page.clock.run_for(1_000)
    page.evaluate("1")
    assert (len(requested[STREAM]), len(requested[CHECK])) == (streams, checks), "gave up on the stream too soon"
    for _ in range(4):
        page.clock.run_for(1_000)  # past 45 s of silence: closed, the check runs
    page.evaluate("1")
    assert len(requested[CHECK]) > checks, "the check did not cover the silent stream"
    with page.expect_request(lambda r: STREAM in r.url):
        for _ in range(6):
            page.clock.run_for(1_000)  # 5 s later, opened again
