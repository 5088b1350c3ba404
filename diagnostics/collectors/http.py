"""HTTP probe collector: what ``nslookup`` and ``curl -v`` would say about each URL, from the worker.

Each URL is probed step by step, each step timed: DNS resolution (the
addresses, or ENOTFOUND / EAI_AGAIN), the TCP connection (ECONNREFUSED,
ETIMEDOUT, EHOSTUNREACH), for https the TLS handshake and the certificate the
server shows (expiry, names, issuer; read whether or not it is trusted), then
one ``GET`` with its status, latency and the start of the body. A finding says
which step failed and reads it with the usual quick reference: refused → not
running or wrong port; timeout → network path or an overloaded service; 503 →
the service reports itself unhealthy (its health body is shown); 504 → an
upstream it depends on is timing out; other 5xx → the application failed;
4xx → the request is refused (path, auth, method).

The results are what the *worker* sees: its DNS, its network policies, its
routes. A service reachable from the ingress may be unreachable from the
worker's namespace, and the other way round.

URLs of one target are probed in parallel, each within its own timeout.
"""

import errno
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from diagnostics.collectors.base import (
    NO_SECRETS,
    Collector,
    CollectorConfig,
    ConfigurationError,
    Evidence,
    Finding,
    FindingStatus,
    Secrets,
    Table,
    Window,
)

OK, WARN, CRIT = FindingStatus.OK, FindingStatus.WARN, FindingStatus.CRIT
DNS, CONNECT, TLS, REQUEST, STATUS = "dns", "connect", "tls", "request", "status"
UNHEALTHY = {"down", "fail", "failed", "failing", "error", "unhealthy", "critical", "unavailable", "false", "ko"}

# What each failure means (the quick reference), by error code.
MEANINGS = {
    "ENOTFOUND": "DNS resolution failed: the name does not exist here (a typo, a missing Service, another "
    "namespace's name without its namespace)",
    "EAI_AGAIN": "DNS did not answer: the resolver is unreachable or overloaded; try again",
    "ECONNREFUSED": "nothing listens there: the service is not running or the port is wrong",
    "ETIMEDOUT": "no answer in time: a network path problem (network policy, firewall) or an overloaded service",
    "EHOSTUNREACH": "no route to the host: network path problem",
    "ECONNRESET": "the connection was reset: the service crashed or a proxy cut it",
    "CERT_EXPIRED": "the certificate has expired: clients that verify it refuse to connect",
    "CERT_NAME_MISMATCH": "the certificate is not for this name: clients that verify it refuse to connect",
    "CERT_UNTRUSTED": "the certificate is not signed by a trusted authority (self-signed or a missing CA)",
    "TLS_ERROR": "the TLS handshake failed",
    "HTTP_503": "the service reports itself unavailable: read its health body for the failing dependency",
    "HTTP_504": "a gateway timed out waiting for an upstream: check the services it depends on",
    "HTTP_5XX": "the application failed: check its logs",
    "HTTP_4XX": "the request was refused: check the path, authentication and method",
    "HTTP_UNEXPECTED": "a status other than the expected one",
}


@dataclass(frozen=True)
class HttpConfig(CollectorConfig):
    """Thresholds and limits; each overridable as ``DIAGNOSTICS_HTTP_<FIELD>``."""

    timeout_seconds: float = 5.0  # per URL, all steps together, unless the target says
    expect_status: int = 200  # unless the target says
    latency_warn_seconds: float = 1.0  # an expected answer this slow is a warning
    cert_warn_days: int = 14  # a certificate expiring within this many days
    cert_crit_days: int = 3
    body_excerpt_chars: int = 300
    max_body_bytes: int = 65536  # read at most this much of a body
    parallel_probes: int = 8


@dataclass(frozen=True)
class Probe:
    """One URL to probe, with what it should answer."""

    url: str
    name: str
    expect_status: int
    timeout: float


@dataclass
class Certificate:
    not_after: datetime
    names: list[str]
    subject: str
    issuer: str
    self_signed: bool
    name_matches: bool


@dataclass
class ProbeResult:
    probe: Probe
    host: str = ""
    port: int = 0
    step: str | None = None  # the step that failed; None when every step passed
    error_code: str | None = None
    error: str = ""
    addresses: list[str] = field(default_factory=list)
    address: str = ""  # the one connected to
    timings: dict[str, float] = field(default_factory=dict)  # ms per step
    certificate: Certificate | None = None
    verify_error: str = ""
    status_code: int | None = None
    reason: str = ""
    body: str = ""

    @property
    def total_ms(self) -> float:
        return round(sum(self.timings.values()), 1)


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.001)


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The addresses of ``host`` as the system resolver gives them (hosts file, search domains), in order.

    ``getaddrinfo`` has no timeout of its own: it runs in a daemon thread that is abandoned when it is late.
    """
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no DNS answer for {host} within {timeout:.1f} s")
    if "error" in outcome:
        raise outcome["error"]
    return list(dict.fromkeys(info[4][0] for info in outcome["infos"]))


def dns_error_code(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "EAI_AGAIN"
    if isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN:
        return "EAI_AGAIN"
    return "ENOTFOUND"


def connect_error_code(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "ECONNREFUSED"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "ETIMEDOUT"
    if isinstance(exc, ConnectionResetError):
        return "ECONNRESET"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "EHOSTUNREACH"
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def hostname_matches(host: str, names: list[str]) -> bool:
    """RFC 6125 matching of ``host`` against the certificate's DNS names and IP addresses."""
    host = host.lower().rstrip(".")
    for name in names:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if label and rest == name[2:]:
                return True
    return False


def read_certificate(der: bytes, host: str) -> Certificate:
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names = list(san.get_values_for_type(x509.DNSName)) + [
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        ]
    except x509.ExtensionNotFound:
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) if isinstance(a.value, str)]
    return Certificate(
        not_after=cert.not_valid_after_utc,
        names=names,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        self_signed=cert.issuer == cert.subject,
        name_matches=hostname_matches(host, names),
    )


def verify_error_code(exc: ssl.SSLCertVerificationError) -> str:
    text = f"{exc.verify_message or ''} {exc}".lower()
    if "expired" in text:
        return "CERT_EXPIRED"
    if "hostname" in text or "ip address mismatch" in text:
        return "CERT_NAME_MISMATCH"
    return "CERT_UNTRUSTED"


def excerpt(raw: bytes, limit: int) -> str:
    text = raw.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(text), separators=(", ", ": "))
    except ValueError:
        pass
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def health_failures(body: str) -> list[str]:
    """The parts a JSON health body reports as failing: ``{"checks": {"database": "down"}}`` → ``["database"]``."""
    try:
        document = json.loads(body.rstrip("…"))
    except ValueError:
        return []
    failing: list[str] = []

    def status_of(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("status", value.get("state", value.get("healthy")))
        return str(value).lower() if isinstance(value, str | bool) else ""

    def walk(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 3:
            return
        for key, value in node.items():
            if key in ("status", "state", "healthy") and path == "":
                continue
            if status_of(value) in UNHEALTHY:
                failing.append(f"{path}{key}")
            elif isinstance(value, dict):
                walk(
                    value,
                    "" if key in ("checks", "details", "components", "dependencies") else f"{path}{key}.",
                    depth + 1,
                )

    walk(document, "", 0)
    return failing[:10]


class HttpCollector(Collector):
    kind = "http"
    config_class = HttpConfig
    config: HttpConfig
    checks = ("probe", "certificate")
    soft_time_limit = 60
    time_limit = 90

    def probes_for(self, target) -> list[Probe]:
        config = target.config
        default_status = int(config.get("expect_status") or self.config.expect_status)
        default_timeout = float(config.get("timeout_seconds") or self.config.timeout_seconds)
        entries = config.get("urls") or ([{"url": config["url"]}] if config.get("url") else [])
        if not entries:
            raise ConfigurationError(f"http target {target.name}: url or urls is required")
        probes = []
        for entry in entries:
            entry = {"url": entry} if isinstance(entry, str) else entry
            url = entry["url"]
            probes.append(
                Probe(
                    url=url,
                    name=entry.get("name") or urlsplit(url).hostname or url,
                    expect_status=int(entry.get("expect_status") or default_status),
                    timeout=float(entry.get("timeout_seconds") or default_timeout),
                )
            )
        return probes

    @contextmanager
    def open(self, target, window, secrets: Secrets = NO_SECRETS):
        probes = self.probes_for(target)
        context = ssl.create_default_context()
        if target.config.get("ca_file"):
            try:
                context.load_verify_locations(cafile=target.config["ca_file"])
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"http target {target.name}: cannot read ca_file: {exc}") from exc
        yield ProbeSession(self, probes, context)

    # One probe ---------------------------------------------------------------------------------

    def run_probe(self, probe: Probe, context: ssl.SSLContext) -> ProbeResult:
        parts = urlsplit(probe.url)
        https = parts.scheme == "https"
        result = ProbeResult(probe=probe, host=parts.hostname or "", port=parts.port or (443 if https else 80))
        deadline = Deadline(probe.timeout)

        def fail(step: str, code: str, error: str) -> ProbeResult:
            result.step, result.error_code, result.error = step, code, error
            return result

        started = time.monotonic()
        try:
            result.addresses = resolve(result.host, result.port, deadline.left())
        except OSError as exc:
            result.timings[DNS] = _ms_since(started)
            return fail(DNS, dns_error_code(exc), str(exc) or type(exc).__name__)
        result.timings[DNS] = _ms_since(started)

        sock, started, refusals = None, time.monotonic(), []
        for address in result.addresses:
            try:
                sock = socket.create_connection((address, result.port), timeout=deadline.left())
                result.address = address
                break
            except OSError as exc:
                refusals.append(exc)
                if isinstance(exc, TimeoutError | socket.timeout):
                    break  # the budget is spent
        result.timings[CONNECT] = _ms_since(started)
        if sock is None:
            exc = refusals[-1]
            where = f"{result.host}:{result.port}"
            return fail(CONNECT, connect_error_code(exc), f"{where}: {exc.strerror or exc}")

        try:
            if https:
                started = time.monotonic()
                sock.settimeout(deadline.left())
                tls_sock = self._handshake(sock, result, context, deadline)
                result.timings[TLS] = _ms_since(started)
                if tls_sock is None:
                    return result
                sock = tls_sock
            started = time.monotonic()
            sock.settimeout(deadline.left())
            connection = http.client.HTTPConnection(result.host, result.port, timeout=deadline.left())
            connection.sock = sock
            path = parts.path or "/"
            if parts.query:
                path += f"?{parts.query}"
            try:
                connection.request(
                    "GET", path, headers={"User-Agent": "orion-ops-probe", "Accept": "application/json, */*"}
                )
                response = connection.getresponse()
                result.status_code, result.reason = response.status, response.reason
                raw = response.read(self.config.max_body_bytes)
            except TimeoutError:
                result.timings[REQUEST] = _ms_since(started)
                return fail(REQUEST, "ETIMEDOUT", f"no response within {probe.timeout:g} s")
            except (OSError, http.client.HTTPException) as exc:
                result.timings[REQUEST] = _ms_since(started)
                code = connect_error_code(exc) if isinstance(exc, OSError) else "HTTP_PROTOCOL"
                return fail(REQUEST, code, f"{type(exc).__name__}: {exc}")
            result.timings[REQUEST] = _ms_since(started)
            result.body = excerpt(raw, self.config.body_excerpt_chars)
        finally:
            sock.close()

        if result.status_code != probe.expect_status:
            status = result.status_code
            code = {503: "HTTP_503", 504: "HTTP_504"}.get(status) or (
                "HTTP_5XX" if status >= 500 else "HTTP_4XX" if status >= 400 else "HTTP_UNEXPECTED"
            )
            return fail(STATUS, code, f"{status} {result.reason}".strip())
        return result

    def _handshake(self, sock, result: ProbeResult, context: ssl.SSLContext, deadline: Deadline):
        """The verified TLS socket, or None with the TLS failure recorded; the certificate is read either way."""
        try:
            tls = context.wrap_socket(sock, server_hostname=result.host)
        except ssl.SSLCertVerificationError as exc:
            result.verify_error = exc.verify_message or str(exc)
            result.certificate = self._unverified_certificate(result, deadline)
            result.step, result.error_code, result.error = TLS, verify_error_code(exc), result.verify_error
            return None
        except (OSError, ssl.SSLError) as exc:
            code = "ETIMEDOUT" if isinstance(exc, TimeoutError | socket.timeout) else "TLS_ERROR"
            result.step, result.error_code, result.error = TLS, code, f"{type(exc).__name__}: {exc}"
            return None
        der = tls.getpeercert(binary_form=True)
        if der:
            result.certificate = read_certificate(der, result.host)
        return tls

    def _unverified_certificate(self, result: ProbeResult, deadline: Deadline) -> Certificate | None:
        """The certificate of a server that failed verification, read over a second, unverified handshake."""
        insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((result.address, result.port), timeout=deadline.left()) as raw,
                insecure.wrap_socket(raw, server_hostname=result.host) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None
        return read_certificate(der, result.host) if der else None

    # Findings ----------------------------------------------------------------------------------

    def _data(self, result: ProbeResult) -> dict:
        cert = result.certificate
        return {
            "url": result.probe.url,
            "name": result.probe.name,
            "step": result.step,
            "error_code": result.error_code,
            "error": result.error,
            "meaning": MEANINGS.get(result.error_code or "", ""),
            "addresses": result.addresses,
            "address": result.address,
            "dns_ms": result.timings.get(DNS),
            "connect_ms": result.timings.get(CONNECT),
            "tls_ms": result.timings.get(TLS),
            "response_ms": result.timings.get(REQUEST),
            "latency_ms": result.total_ms,
            "status_code": result.status_code,
            "expected_status": result.probe.expect_status,
            "body_excerpt": result.body,
            "unhealthy_components": health_failures(result.body) if result.status_code == 503 else [],
            "certificate_not_after": cert.not_after.isoformat() if cert else None,
        }

    def probe_finding(self, result: ProbeResult) -> Finding:
        probe, data = result.probe, self._data(result)
        timing_rows = [[step, result.timings[step]] for step in (DNS, CONNECT, TLS, REQUEST) if step in result.timings]
        evidence = Evidence(
            query=f"GET {probe.url} (from the worker; timeout {probe.timeout:g} s)",
            observed=result.status_code if result.status_code is not None else result.error_code,
            threshold=probe.expect_status,
            unit="status",
            table=Table(columns=["step", "ms"], rows=timing_rows),
            data=data,
        )
        where = f"{probe.name} ({probe.url})" if probe.name != result.host else probe.url
        # A step that failed before an answer: the dependency cannot be reached. An errno the table does not
        # know (EADDRNOTAVAIL, …) still makes a finding, with the error text as its only explanation.
        unreachable = {
            DNS: lambda: f"DNS failed for {result.host}: {result.error_code} after {data['dns_ms']:.0f} ms",
            CONNECT: lambda: (
                f"TCP connect to {result.host}:{result.port} failed: {result.error_code} after "
                f"{data['connect_ms']:.0f} ms ({', '.join(result.addresses)})"
            ),
            TLS: lambda: f"TLS handshake with {result.host}:{result.port} failed: {result.error_code} ({result.error})",
            REQUEST: lambda: (
                f"{where}: connected in {data['connect_ms']:.0f} ms but the request failed: {result.error_code} "
                f"({result.error})"
            ),
        }
        if result.step in unreachable:
            summary = unreachable[result.step]()
            return self._bad(CRIT, summary, probe, evidence, "dependency-unreachable", data["meaning"])
        if result.step == STATUS:
            status = result.status_code
            summary = (
                f"{where} answered {status} {result.reason} in {result.total_ms:.0f} ms "
                f"(expected {probe.expect_status})"
            )
            meaning = data["meaning"]
            if status == 503:
                failing = data["unhealthy_components"]
                if failing:
                    summary += f"; reports {', '.join(failing)} unhealthy"
                summary += f": {result.body[:120]}" if result.body else ""
                return self._bad(CRIT, summary, probe, evidence, "dependency-unreachable", meaning)
            if status == 504:
                return self._bad(CRIT, summary, probe, evidence, "dependency-unreachable", meaning)
            if status >= 500:
                return self._bad(CRIT, summary, probe, evidence, "high-error-rate", meaning)
            return self._bad(WARN, summary, probe, evidence, None, meaning)
        summary = f"{where} answered {result.status_code} in {result.total_ms:.0f} ms"
        if result.total_ms >= self.config.latency_warn_seconds * 1000:
            summary += f", slower than {self.config.latency_warn_seconds:g} s"
            return self._bad(
                WARN, summary, probe, evidence, "slow-traces",
                "Slow but answering: an overloaded service or a slow dependency behind it.",
            )  # fmt: skip
        return self.ok("probe", summary, subject=probe.url, evidence=evidence)

    def _bad(self, status, summary, probe, evidence, runbook, meaning) -> Finding:
        return self.finding(
            "probe", status, summary, subject=probe.url, evidence=evidence, remediation=meaning, runbook=runbook
        )

    def certificate_finding(self, result: ProbeResult, now: datetime) -> Finding | None:
        cert = result.certificate
        if cert is None:
            return None
        days = (cert.not_after - now).total_seconds() / 86400
        subject = f"{result.host}:{result.port}"
        status, problems = OK, []
        if days < 0:
            status, problems = CRIT, [f"expired {-days:.0f} days ago"]
        elif days <= self.config.cert_crit_days:
            status, problems = CRIT, [f"expires in {days:.1f} days"]
        elif days <= self.config.cert_warn_days:
            status, problems = WARN, [f"expires in {days:.0f} days"]
        if not cert.name_matches:
            status = CRIT
            problems.append(f"is not for {result.host} (names: {', '.join(cert.names) or 'none'})")
        if cert.self_signed:
            problems.append("is self-signed")
        summary = (
            f"Certificate of {subject} {', '.join(problems)} ({cert.not_after:%Y-%m-%d})"
            if problems
            else f"Certificate of {subject} valid for {days:.0f} more days ({cert.not_after:%Y-%m-%d})"
        )
        evidence = Evidence(
            query=f"TLS handshake with {subject} (SNI {result.host})",
            observed=round(days, 2),
            threshold=self.config.cert_crit_days if status == CRIT else self.config.cert_warn_days,
            unit="days",
            data={
                "url": result.probe.url,
                "host": result.host,
                "not_after": cert.not_after.isoformat(),
                "days_left": round(days, 2),
                "names": cert.names,
                "name_matches": cert.name_matches,
                "subject": cert.subject,
                "issuer": cert.issuer,
                "self_signed": cert.self_signed,
                "verify_error": result.verify_error,
            },
        )
        if status == OK:
            return self.ok("certificate", summary, subject=subject, evidence=evidence)
        return self.finding(
            "certificate",
            status,
            summary,
            subject=subject,
            evidence=evidence,
            remediation="Renew the certificate (cert-manager: check the Certificate and its Order) and make sure "
            "it names every host clients use; reload the server after renewing.",
            runbook="dependency-unreachable",
        )

    # Checks ------------------------------------------------------------------------------------

    def probe(self, session: "ProbeSession", window: Window) -> list[Finding]:
        return [self.probe_finding(result) for result in session.results]

    def certificate(self, session: "ProbeSession", window: Window) -> list[Finding]:
        https = [r for r in session.results if r.probe.url.startswith("https:")]
        if not https:
            return [self.no_data("certificate", "No https URL to read a certificate from", subject="")]
        findings = [f for r in https if (f := self.certificate_finding(r, window.now)) is not None]
        if not findings:
            failed = ", ".join(f"{r.host} ({r.step})" for r in https)
            return [self.no_data("certificate", f"No certificate was shown: {failed}", subject=https[0].host)]
        return findings


class ProbeSession:
    """The probes of one target, run together the first time a check asks for them."""

    def __init__(self, collector: HttpCollector, probes: list[Probe], context: ssl.SSLContext):
        self.collector = collector
        self.probes = probes
        self.context = context
        self._results: list[ProbeResult] | None = None
        self.last_query = ""

    @property
    def results(self) -> list[ProbeResult]:
        if self._results is None:
            workers = max(1, min(self.collector.config.parallel_probes, len(self.probes)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
                self._results = list(pool.map(lambda p: self.collector.run_probe(p, self.context), self.probes))
        return self._results


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
