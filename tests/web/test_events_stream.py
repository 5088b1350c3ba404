"""The dashboards' event stream (incidents.web.events): answered by the ASGI app itself, in process, with a
stamp source the test moves; then served by a real uvicorn on the test database (tests/web/browser has the page)."""

import asyncio
import json
import subprocess
import sys
import time

import pytest
import requests

from incidents.web import live
from incidents.web.events import EVENTS_PATH, EventsApp, StampWatch
from tests.app_server import EventsServer
from tests.factories import IncidentFactory, UserFactory


class Stamp:
    """A change stamp the test moves, counting how often the app reads it; raises while ``failing``."""

    def __init__(self, value=1000):
        self.value, self.reads, self.failing = value, 0, False

    def __call__(self):
        self.reads += 1
        if self.failing:
            raise ConnectionError("database unavailable")
        return self.value


class Client:
    """One HTTP exchange with the ASGI app: what it sent, and a way to hang up."""

    def __init__(self, app, path=EVENTS_PATH, query="", method="GET", host="localhost"):
        self.scope = {
            "type": "http", "method": method, "path": path, "query_string": query.encode(), "scheme": "http",
            "headers": [(b"host", host.encode()), (b"accept", b"text/event-stream")],
        }  # fmt: skip
        self.app, self.start, self.body, self.ended = app, None, b"", False
        self._hang_up = asyncio.Event()

    async def _receive(self):
        await self._hang_up.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.start = message
        else:
            self.body += message.get("body", b"")
            self.ended = not message.get("more_body", False)

    def run(self):
        return asyncio.ensure_future(self.app(self.scope, self._receive, self._send))

    def hang_up(self):
        self._hang_up.set()

    @property
    def status(self):
        return self.start["status"]

    def headers(self):
        return {k.decode(): v.decode() for k, v in self.start["headers"]}

    def events(self):
        """The ``stamp`` events' data, in order."""
        blocks = self.body.decode().split("\n\n")
        return [int(b.split("data: ")[1]) for b in blocks if b.startswith("event: stamp") or "\nevent: stamp" in b]


@pytest.fixture
def token(db):
    return live.stamp_token(UserFactory(username="vic", role="viewer"))


@pytest.fixture(autouse=True)
def local_host(settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]


async def settle(condition, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_stream_sends_the_stamp_then_each_move(token):
    stamp = Stamp()

    async def scenario():
        app = EventsApp(StampWatch(read=stamp, interval=0.02))
        client = Client(app, query=f"t={token}")
        task = client.run()
        await settle(lambda: client.events() == [1000])
        assert client.status == 200
        headers = client.headers()
        assert headers["content-type"].startswith("text/event-stream")
        assert "no-store" in headers["cache-control"]
        assert client.body.startswith(b"retry: ")
        stamp.value = 1500
        await settle(lambda: client.events() == [1000, 1500])
        stamp.value = 1700
        await settle(lambda: client.events() == [1000, 1500, 1700])
        client.hang_up()
        await asyncio.wait_for(task, 2)
        assert app.watch.listeners == 0

    asyncio.run(scenario())


def test_listeners_share_one_reader_which_stops_when_the_last_leaves(token):
    stamp = Stamp()

    async def scenario():
        app = EventsApp(StampWatch(read=stamp, interval=0.05))
        clients = [Client(app, query=f"t={token}") for _ in range(50)]
        tasks = [client.run() for client in clients]
        await settle(lambda: all(client.events() == [1000] for client in clients))
        before = stamp.reads
        await asyncio.sleep(0.5)
        # About ten reads in half a second at 0.05 s, whatever the number of listeners (not 50 × 10).
        assert 3 <= stamp.reads - before <= 15, stamp.reads - before
        stamp.value = 2000
        await settle(lambda: all(client.events() == [1000, 2000] for client in clients))
        for client in clients:
            client.hang_up()
        await asyncio.wait_for(asyncio.gather(*tasks), 3)
        assert app.watch.listeners == 0
        await asyncio.sleep(0.2)
        idle = stamp.reads
        await asyncio.sleep(0.3)
        assert stamp.reads == idle, "the reader went on with no one listening"

    asyncio.run(scenario())


def test_a_quiet_stream_sends_keepalives_and_ends_at_its_lifetime(token):
    stamp = Stamp()

    async def scenario():
        app = EventsApp(StampWatch(read=stamp, interval=0.02))
        app.keepalive_seconds, app.max_seconds = 0.1, 0.55
        client = Client(app, query=f"t={token}")
        started = time.monotonic()
        await asyncio.wait_for(client.run(), 3)
        assert 0.5 <= time.monotonic() - started < 2
        # The same stamp again each keepalive: an event the page sees, so it can tell a dead stream.
        assert len(client.events()) >= 4 and set(client.events()) == {1000}, client.events()
        assert client.ended, "the stream did not end its response"

    asyncio.run(scenario())


def test_stopping_ends_every_open_stream_cleanly(token):
    stamp = Stamp()

    async def scenario():
        app = EventsApp(StampWatch(read=stamp, interval=0.02))
        clients = [Client(app, query=f"t={token}") for _ in range(5)]
        tasks = [client.run() for client in clients]
        await settle(lambda: all(client.events() == [1000] for client in clients))
        app.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        assert all(client.ended for client in clients), "a stream was cut without ending its response"
        assert app.watch.listeners == 0

    asyncio.run(scenario())


def test_the_reader_survives_database_trouble(token):
    stamp = Stamp()

    async def scenario():
        watch = StampWatch(read=stamp, interval=0.02)
        app = EventsApp(watch)
        client = Client(app, query=f"t={token}")
        task = client.run()
        await settle(lambda: client.events() == [1000])
        stamp.failing = True
        await asyncio.sleep(0.1)
        stamp.failing, stamp.value = False, 3000
        await settle(lambda: client.events() == [1000, 3000], timeout=5)  # the retry waits 2 s
        client.hang_up()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "method", "query", "host", "status"),
    [
        (EVENTS_PATH, "GET", "", "localhost", 403),
        (EVENTS_PATH, "GET", "t=not-a-token", "localhost", 403),
        (EVENTS_PATH, "GET", "t=TOKEN-tampered", "localhost", 403),
        (EVENTS_PATH, "POST", "t=TOKEN", "localhost", 405),
        ("/dashboard/", "GET", "t=TOKEN", "localhost", 404),
        (EVENTS_PATH, "GET", "t=TOKEN", "evil.example", 400),
        ("/healthz", "GET", "", "10.0.0.7:8001", 200),  # probes: the process answers, reading nothing
    ],
)
def test_refusals_are_clear_json(token, path, method, query, host, status):
    stamp = Stamp()

    async def scenario():
        app = EventsApp(StampWatch(read=stamp, interval=0.02))
        client = Client(app, path=path, method=method, query=query.replace("TOKEN", token), host=host)
        await asyncio.wait_for(client.run(), 2)
        return client

    client = asyncio.run(scenario())
    assert client.status == status
    assert client.headers()["content-type"] == "application/json"
    assert json.loads(client.body)["detail"]
    assert stamp.reads == 0, "a refused request read the database"


def test_an_expired_token_is_refused(token, settings):
    async def scenario():
        app = EventsApp(StampWatch(read=Stamp(), interval=0.02))
        client = Client(app, query=f"t={token}")
        await asyncio.wait_for(client.run(), 2)
        return client

    original = live.STAMP_TOKEN_MAX_AGE
    try:
        live.STAMP_TOKEN_MAX_AGE = -1
        assert asyncio.run(scenario()).status == 403
    finally:
        live.STAMP_TOKEN_MAX_AGE = original


# A real uvicorn on the test database ---------------------------------------------------------------


def stream_events(lines, count, timeout):
    """The next ``count`` stamp values from a stream's lines (one iterator, kept across calls)."""
    values, deadline = [], time.monotonic() + timeout
    for line in lines:
        if line.startswith("data: "):
            values.append(int(line[6:]))
            if len(values) == count:
                return values
        assert time.monotonic() < deadline, f"only {values} within {timeout} s"
    raise AssertionError(f"the stream ended after {values}")


@pytest.mark.django_db(transaction=True)
def test_uvicorn_streams_a_new_incident_within_a_second(tmp_path):
    user = UserFactory(username="vic", role="viewer")
    incident = IncidentFactory(title="Orders API 502", severity="P1")
    token = live.stamp_token(user)
    with EventsServer(tmp_path / "events.log") as server:
        refused = requests.get(f"{server.url}{EVENTS_PATH}?t=forged", timeout=5)
        assert refused.status_code == 403
        with requests.get(f"{server.url}{EVENTS_PATH}", params={"t": token}, stream=True, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            lines = response.iter_lines(chunk_size=None, decode_unicode=True)
            first = stream_events(lines, 1, timeout=5)[0]
            assert first == int(incident.updated_at.timestamp() * 1000)
            changed_at = time.monotonic()
            IncidentFactory(title="Checkout latency P95 2.4 s", severity="P0")
            moved = stream_events(lines, 1, timeout=5)[0]
            assert moved > first
            assert time.monotonic() - changed_at < 1.5

            # Told to stop (as by a rollout) with the stream open: it ends the stream and exits at once.
            stopped_at = time.monotonic()
            server.process.terminate()
            server.process.wait(timeout=5)
            assert time.monotonic() - stopped_at < 3
            assert [line for line in lines if line] == [], "the stream should have ended, and nothing more sent"
    log = (tmp_path / "events.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]


def django_settings_in_a_new_process(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print(s.CONTENT_SECURITY_POLICY)"],
        env={**EventsServer.base_env(), "DJANGO_SETTINGS_MODULE": "orion_ops.settings", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("bad", ["ftp://x/events/", "dashboard/events/", "/dashboard/events/?x=1"])
def test_settings_refuse_an_events_url_that_is_not_a_path_or_http_url(bad):
    result = django_settings_in_a_new_process(LIVE_EVENTS_URL=bad)
    assert result.returncode != 0
    assert "LIVE_EVENTS_URL" in result.stderr, result.stderr[-500:]


def test_an_events_url_on_another_origin_is_allowed_to_connect_and_a_path_adds_nothing():
    other = django_settings_in_a_new_process(LIVE_EVENTS_URL="https://events.example.org:8443/dashboard/events/")
    assert other.returncode == 0, other.stderr[-500:]
    assert "'connect-src': [\"'self'\", 'https://events.example.org:8443']" in other.stdout
    same = django_settings_in_a_new_process(LIVE_EVENTS_URL="/dashboard/events/")
    assert "'connect-src': [\"'self'\"]" in same.stdout


def test_the_page_names_the_stream_only_when_configured(db, client, settings):
    client.force_login(UserFactory(username="ann", role="viewer"))
    assert "data-events-url" not in client.get("/").content.decode()  # not configured: the one-second check
    settings.LIVE_EVENTS_URL = "/dashboard/events/"
    page = client.get("/").content.decode()
    assert 'data-events-url="/dashboard/events/?t=' in page
