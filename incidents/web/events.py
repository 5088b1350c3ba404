"""The dashboard's event stream: server-sent events telling open dashboards that an incident changed.

An ASGI application of its own (``orion_ops.events:application``, served by uvicorn beside the
WSGI app), for ``GET /dashboard/events/?t=<the page's stamp token>``. One task per process reads
the change stamp (``live.changed_stamp_ms``, one indexed step) every ``EVENTS_READ_SECONDS`` while
anyone listens, and wakes every open stream when it moves; a stream then sends ``event: stamp``
with the new value and the page asks ``/dashboard/changes/`` what changed. An idle dashboard costs
an open socket and the same stamp again every ``EVENTS_KEEPALIVE_SECONDS`` (so the page can tell a
live stream from a dead one), not a request a second. On SIGTERM every stream ends its response
at once, so the server stops without waiting for them.

The stream tells nothing but a time, like the stamp check: it is authorised by the page's signed
token alone (no session, no query per listener), so other origins may read it (the page may name
an events service on another port). A stream ends when its token expires or after
``EVENTS_MAX_SECONDS``; the browser reconnects, and a refused reconnect (403) leaves the page on
its one-second stamp check.
"""

import asyncio
import json
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from django.conf import settings
from django.core import signing
from django.db import close_old_connections, connections
from django.http.request import split_domain_port, validate_host

from incidents.web import live

logger = logging.getLogger(__name__)

EVENTS_PATH = "/dashboard/events/"
HEALTH_PATH = "/healthz"
EVENTS_READ_SECONDS = 0.5
EVENTS_KEEPALIVE_SECONDS = 15.0
EVENTS_MAX_SECONDS = 30 * 60
EVENTS_RETRY_MS = 2000  # how long the browser waits before reconnecting a dropped stream

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store, private"),
    (b"x-accel-buffering", b"no"),  # nginx-style proxies: pass each event on at once
    (b"x-content-type-options", b"nosniff"),
    (b"access-control-allow-origin", b"*"),
]


class StampWatch:
    """The change stamp of one process, read by one task while anyone listens; listeners wait for it to move."""

    def __init__(self, read=live.changed_stamp_ms, interval: float = EVENTS_READ_SECONDS):
        self._read = read
        self.interval = interval
        self.value: int | None = None
        self.listeners = 0
        self._moved = asyncio.Event()
        self._task: asyncio.Task | None = None
        # One thread, so one database connection, whatever the number of listeners.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orion-events-stamp")

    def _read_in_thread(self) -> int:
        close_old_connections()
        try:
            return self._read()
        except Exception:
            connections.close_all()  # a broken connection is not reused; the next read opens a new one
            raise

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failing = False
        while self.listeners > 0:
            try:
                value = await loop.run_in_executor(self._executor, self._read_in_thread)
            except Exception:
                if not failing:
                    logger.exception("events: reading the change stamp failed; retrying")
                failing = True
                await asyncio.sleep(max(self.interval, 2.0))
                continue
            if failing:
                logger.info("events: reading the change stamp works again")
                failing = False
            if value != self.value:
                self.value = value
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()
            await asyncio.sleep(self.interval)
        self._task = None
        self.value = None  # unknown until read again: a later listener must not be sent an old stamp

    async def first(self) -> int | None:
        """Count a listener in (starting the reader if it was idle) and return the stamp as known now."""
        self.listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if self.value is None:
            await self.wait(None, timeout=5.0)
        return self.value

    def leave(self) -> None:
        self.listeners -= 1

    async def wait(self, seen: int | None, timeout: float) -> int | None:
        """The stamp once it differs from ``seen``, or the same value after ``timeout`` seconds."""
        if self.value != seen:
            return self.value
        try:
            await asyncio.wait_for(self._moved.wait(), timeout)
        except TimeoutError:
            pass
        return self.value

    async def close(self) -> None:
        self.listeners = 0
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _allowed_host(scope) -> bool:
    host, _port = split_domain_port(_header(scope, b"host"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(host) and validate_host(host, allowed)


def _secure_enough(scope) -> bool:
    if not settings.SECURE_SSL_REDIRECT or scope.get("scheme") == "https":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name = proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode()
        return _header(scope, name).split(",")[0].strip() == proxy[1]
    return False


def _token_expires_at(token: str) -> float | None:
    """When the page's token stops being valid (monotonic clock), or None when it is not valid now."""
    try:
        live.stamp_token_check(token)
    except signing.BadSignature:
        return None
    made = signing.b62_decode(token.rsplit(":", 2)[-2])
    return time.monotonic() + max(0.0, made + live.STAMP_TOKEN_MAX_AGE - time.time())


async def _reply(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def _event(value: int | None) -> bytes:
    return f"event: stamp\ndata: {value if value is not None else ''}\n\n".encode()


class EventsApp:
    def __init__(self, watch: StampWatch | None = None):
        self._watch = watch
        self._stopping = asyncio.Event()  # set when the server is told to stop: every stream ends cleanly
        self.max_seconds = EVENTS_MAX_SECONDS
        self.keepalive_seconds = EVENTS_KEEPALIVE_SECONDS

    @property
    def watch(self) -> StampWatch:
        if self._watch is None:
            self._watch = StampWatch()  # made inside the server's event loop
        return self._watch

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == HEALTH_PATH:
            await _reply(send, 200, "ok")  # the process serves; the database is the web's readiness to judge
            return
        if scope["path"] != EVENTS_PATH:
            await _reply(send, 404, "Not found: this service answers only " + EVENTS_PATH)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _reply(send, 405, "Method not allowed.", [(b"allow", b"GET, HEAD")])
            return
        if not _allowed_host(scope):
            await _reply(send, 400, "Bad request: this host is not served here.")
            return
        if not _secure_enough(scope):
            await _reply(send, 403, "HTTPS required.")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        expires_at = _token_expires_at(query.get("t", [""])[0])
        if expires_at is None:
            await _reply(send, 403, "Reload the page: its live token expired or is not valid.")
            return
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await self._stream(receive, send, min(expires_at, time.monotonic() + self.max_seconds))

    async def _stream(self, receive, send, ends_at: float) -> None:
        watch = self.watch
        gone = asyncio.create_task(_disconnected(receive))
        stopping = asyncio.create_task(self._stopping.wait())
        waiting = None
        try:
            seen = await watch.first()
            await send({"type": "http.response.body", "body": f"retry: {EVENTS_RETRY_MS}\n".encode() + _event(seen),
                        "more_body": True})  # fmt: skip
            while not gone.done() and not stopping.done():
                left = ends_at - time.monotonic()
                if left <= 0:
                    break
                waiting = asyncio.create_task(watch.wait(seen, min(self.keepalive_seconds, left)))
                await asyncio.wait({gone, stopping, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    break
                # A changed stamp, or the same one again as the keepalive: the page sees every event (not
                # comments), so a stream gone quiet for several keepalives is one it should reopen.
                seen = waiting.result()
                await send({"type": "http.response.body", "body": _event(seen), "more_body": True})
            if not gone.done():
                await send({"type": "http.response.body", "body": b""})
        except OSError:
            pass  # the listener went away between two events
        finally:
            watch.leave()
            for task in (gone, stopping, waiting):
                if task is not None:
                    task.cancel()

    def stop(self) -> None:
        """End every open stream now (each ends its response; browsers reconnect, to another replica)."""
        self._stopping.set()

    def _stop_signals_watch(self) -> None:
        """Chain SIGTERM and SIGINT: the server (uvicorn) stops accepting and waits for open responses, which
        for a stream would be up to EVENTS_MAX_SECONDS, so the streams are ended first."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(number)

            def handler(signum, frame, previous=previous):
                loop.call_soon_threadsafe(self.stop)
                if callable(previous):
                    previous(signum, frame)

            signal.signal(number, handler)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._stop_signals_watch()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watch is not None:
                    await self._watch.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
