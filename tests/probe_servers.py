"""Loopback servers for the HTTP probe: answering ones (plain or TLS), one that never answers, a closed port.

``self_signed`` writes a certificate and key made with ``cryptography`` for
the names given, valid until ``not_after``; ``HealthServer`` serves fixed
routes (status, JSON body) over HTTP or, given a certificate, HTTPS.
"""

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path, *, names: list[str], not_after: dt.datetime, stem: str = "server") -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed certificate for ``names`` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(not_after, dt.datetime.now(dt.UTC)) - dt.timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# path → (status, JSON body)
ROUTES = {
    "/health": (200, {"status": "ok"}),
    "/unhealthy": (
        503,
        {
            "status": "unhealthy",
            "checks": {
                "database": {"status": "down", "error": "connect ECONNREFUSED 10.0.3.4:5432"},
                "redis": {"status": "ok"},
            },
        },
    ),
    "/gateway": (504, {"error": "upstream request timeout"}),
    "/crash": (500, {"error": "Internal Server Error"}),
    "/missing": (404, {"error": "not found"}),
}


class HealthServer:
    """``with HealthServer() as server:`` answers ROUTES at ``server.url`` (https when given a certificate)."""

    def __init__(self, *, certificate: tuple[Path, Path] | None = None, host: str = "127.0.0.1"):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, body = ROUTES.get(self.path, (404, {"error": "not found"}))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """A port that accepts TCP connections (the kernel's backlog) and never answers a byte."""

    def __enter__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/health"
        return self

    def __exit__(self, *exc):
        self.socket.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
