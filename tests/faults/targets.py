"""Misbehaving diagnostic targets on loopback: one that hangs, one that refuses, two that answer garbage."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.tcp_proxy import TcpProxy


class Blackhole:
    """Accepts TCP connections and never answers: a target that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class Refuser:
    """A port nothing listens on (connection refused) that can later start forwarding to a real server."""

    def __init__(self, upstream_port: int):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proxy = TcpProxy("127.0.0.1", upstream_port)

    def recover(self) -> None:
        self.proxy.start(self.port)

    def close(self) -> None:
        self.proxy.cut()


class GarbageTcp:
    """Answers every connection with bytes that are no protocol at all, then hangs up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(b"\x00\xffHELLO? garbage \xde\xad\xbe\xef\r\n" * 64)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


class _GarbageHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"Prometheus is ready." if self.path.startswith("/-/ready") else b'{"status": "success", "data": [[[<<'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class GarbageHttp:
    """An HTTP server that says it is ready and answers every query with broken JSON."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
