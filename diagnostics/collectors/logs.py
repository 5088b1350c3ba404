"""Log-pattern analysis: a pure function over log lines.

What ``kubectl logs … | grep ERROR | cut -d: -f2 | sort | uniq -c | sort -rn``
tries to do, done properly: error lines are grouped by their message with the
variable parts (numbers, ids, hex, timestamps, addresses) masked, counted, and
dated (first/last seen); and lines are matched against known failure patterns
that say what they mean and what to do. The patterns live in one table,
``PATTERNS``: add a row to recognise a new one.

Used by the Kubernetes collector on container logs; works on any text.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from diagnostics.collectors.base import Evidence, Finding, FindingStatus, Table


@dataclass(frozen=True)
class Pattern:
    id: str
    regex: re.Pattern
    title: str
    meaning: str
    remedy: str
    severity: FindingStatus = FindingStatus.CRIT  # finding status when it occurs
    runbook: str | None = None


def _p(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


# Most specific first: a line is explained by the first pattern it matches
# (a SequelizeConnectionRefusedError line also says ECONNREFUSED).
PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "sequelize_pool_timeout",
        _p(r"SequelizeConnectionAcquireTimeoutError"),
        "Sequelize: no free connection in the pool",
        "Every connection of the pool is busy: the pool is exhausted (slow queries, leaked connections, "
        "or too small a pool for the load).",
        "Look for slow queries and connections held open; size the pool against max_connections.",
        runbook="db-connection-pool-exhausted",
    ),
    Pattern(
        "sequelize_connection",
        _p(
            r"Sequelize(?:Connection(?:Refused|Timedout)?|HostNotFound|HostNotReachable|AccessDenied|"
            r"InvalidConnection)Error"
        ),  # fmt: skip
        "Sequelize cannot connect to the database",
        "The ORM could not open a database connection (refused, timed out, unknown host or access denied).",
        "Check the database is up, its address and credentials, and max_connections headroom.",
        runbook="db-connection-pool-exhausted",
    ),
    Pattern(
        "prisma_p2024",
        _p(r"\bP2024\b|Timed out fetching a new connection from the connection pool"),
        "Prisma P2024: connection pool timeout",
        "No connection of the pool came free in time: the pool is exhausted.",
        "Find what holds connections (slow queries, idle in transaction); size connection_limit against "
        "max_connections before scaling out.",
        runbook="db-connection-pool-exhausted",
    ),
    Pattern(
        "prisma_p1001",
        _p(r"\bP1001\b|Can't reach database server"),
        "Prisma P1001: cannot reach the database server",
        "The database server is unreachable at the configured host and port.",
        "Check the database pod/service, DATABASE_URL host and port, and network policies.",
    ),
    Pattern(
        "prisma_p1002",
        _p(r"\bP1002\b"),
        "Prisma P1002: database server timed out",
        "The database server was reached but did not answer in time.",
        "Check database load, locks and long-running queries.",
        runbook="slow-queries",
    ),
    Pattern(
        "prisma_p1017",
        _p(r"\bP1017\b|Server has closed the connection"),
        "Prisma P1017: the server closed the connection",
        "The database dropped the connection: restart, failover, idle timeout or connection limit.",
        "Check the database log around that time for restarts, terminations and 'too many clients'.",
    ),
    Pattern(
        "python_pool_timeout",
        _p(
            r"PoolTimeout|couldn't get a connection after|QueuePool limit of size \d+ overflow|"
            r"sqlalchemy\.exc\.TimeoutError"
        ),  # fmt: skip
        "Python: database pool timeout",
        "The application's connection pool (psycopg_pool / SQLAlchemy) had no free connection.",
        "Find slow queries and sessions idle in transaction; size the pool against max_connections.",
        runbook="db-connection-pool-exhausted",
    ),
    Pattern(
        "too_many_clients",
        _p(r"too many clients already|remaining connection slots are reserved|too many connections"),
        "PostgreSQL refuses connections: max_connections reached",
        "The database has no connection slot left for this client.",
        "Reduce pool sizes or replicas, or add a pooler (PgBouncer); see the saturation finding.",
        runbook="db-connection-pool-exhausted",
    ),
    Pattern(
        "java_oom",
        _p(r"java\.lang\.OutOfMemoryError"),
        "Java OutOfMemoryError",
        "The JVM ran out of heap (or metaspace / native threads, per the message).",
        "Check heap size (-Xmx) against the container limit, and look for a leak in the memory trend.",
    ),
    Pattern(
        "node_heap_oom",
        _p(r"JavaScript heap out of memory|Allocation failed - JavaScript heap"),
        "Node.js heap out of memory",
        "V8 hit its heap limit: a leak or too small --max-old-space-size for the load.",
        "Check the memory trend for a leak; set --max-old-space-size below the container limit.",
    ),
    Pattern(
        "oom_killed",
        _p(r"\bOOMKilled\b|Out of memory: Killed process|oom-kill"),
        "Killed for using too much memory (OOMKilled)",
        "The kernel killed the container at its memory limit.",
        "Raise the memory limit or fix the leak; compare the memory trend with the limit.",
    ),
    Pattern(
        "go_panic",
        _p(r"^\s*panic: |goroutine \d+ \[running\]"),
        "Go panic",
        "The program crashed with a panic; the lines after it hold the stack.",
        "Read the panic message and the first frames of the stack in the previous container's log.",
    ),
    Pattern(
        "econnrefused",
        _p(r"\bECONNREFUSED\b|connection refused"),
        "Connection refused",
        "The service it connects to is not running, or listens on another port.",
        "Check the target is up and ready (kubectl get pods,endpoints) and that host and port in the config match.",
    ),
    Pattern(
        "etimedout",
        _p(r"\bETIMEDOUT\b|\bESOCKETTIMEDOUT\b|connect timed out"),
        "Connection timed out",
        "A network problem or a slow upstream: the peer did not answer in time.",
        "Check the upstream's latency and saturation, network policies, and client timeouts and retries.",
        severity=FindingStatus.WARN,
    ),
    Pattern(
        "dns",
        _p(
            r"\bENOTFOUND\b|\bEAI_AGAIN\b|getaddrinfo|Name or service not known|no such host|"
            r"Temporary failure in name resolution"
        ),  # fmt: skip
        "DNS lookup failed",
        "A host name did not resolve: wrong service name or namespace, or DNS (CoreDNS) trouble.",
        "Check the host name (service.namespace.svc.cluster.local), that the Service exists, and CoreDNS health.",
    ),
    Pattern(
        "ehostunreach",
        _p(r"\bEHOSTUNREACH\b|no route to host"),
        "Host unreachable",
        "No route to the peer: a node or pod is gone, or a network policy blocks the traffic.",
        "Check the peer's pod and node, and NetworkPolicies between the two namespaces.",
    ),
    Pattern(
        "python_operational_error",
        _p(r"OperationalError"),
        "Python: database OperationalError",
        "The database driver failed at the connection level (server gone, connection reset, timeout).",
        "Check the database's health and the error text; connection errors are often pool or network issues.",
        severity=FindingStatus.WARN,
    ),
)

_TIMESTAMP = re.compile(r"^\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*")
_LEVEL = re.compile(
    r"^(?:\[|level=|lvl=)?(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|PANIC)\b[\]:]?\s*",
    re.IGNORECASE,
)
_ERROR_WORD = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|PANIC)\b|^\s*panic: |Exception\b|\bError:", re.IGNORECASE)
_HOST_PORT = re.compile(
    r"(?<![\w.:-])(?P<host>(?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|localhost|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*):(?P<port>\d{2,5})\b",
    re.IGNORECASE,
)
_DNS_HOST = re.compile(r"(?:ENOTFOUND|EAI_AGAIN|lookup)\s+(?P<host>[a-z0-9][a-z0-9.-]*[a-z0-9])", re.IGNORECASE)

# Masks, most specific first, so "abc-123" ids do not become "<num>" halves.
_MASKS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"(?<=[-_/])[a-z0-9]{5,10}\b(?=\s|$|[\"',)])"), "<id>"),  # pod suffixes like -7d9f4c8b9
    (re.compile(r"\d+(?:\.\d+)?"), "<num>"),
)


def normalize(message: str) -> str:
    """The message with its variable parts masked, for grouping."""
    for regex, token in _MASKS:
        message = regex.sub(token, message)
    return re.sub(r"\s+", " ", message).strip()[:300]


@dataclass
class LogLine:
    text: str
    message: str
    level: str
    at: datetime | None


def parse_line(raw: str) -> LogLine:
    """Split a line into time, level and message. Understands JSON lines, logfmt-ish and plain text."""
    text = raw.rstrip("\n")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            level = str(record.get("level") or record.get("severity") or record.get("lvl") or "").upper()
            message = str(record.get("msg") or record.get("message") or record.get("error") or stripped)
            if record.get("err") or record.get("error"):
                detail = record.get("err") or record.get("error")
                if isinstance(detail, dict):
                    detail = detail.get("message") or json.dumps(detail)
                if str(detail) not in message:
                    message = f"{message}: {detail}"
            at = _parse_time(str(record.get("time") or record.get("timestamp") or record.get("ts") or ""))
            return LogLine(text, message, _level_name(level), at)
    at = None
    rest = stripped
    match = _TIMESTAMP.match(rest)
    if match:
        at = _parse_time(match.group("ts"))
        rest = rest[match.end() :]
    level = ""
    match = _LEVEL.match(rest)
    if match:
        level = match.group("level")
        rest = rest[match.end() :]
    else:
        inline = re.search(r"\b(?:level|lvl)=(\w+)", rest, re.IGNORECASE)
        if inline:
            level = inline.group(1)
    if not level and _ERROR_WORD.search(rest):
        level = "ERROR"
    return LogLine(text, rest.strip(), _level_name(level), at)


def _level_name(level: str) -> str:
    level = level.upper()
    if level in ("ERR", "ERROR", "FATAL", "CRITICAL", "PANIC", "50", "60"):
        return "ERROR"
    if level in ("WARN", "WARNING", "40"):
        return "WARN"
    return level or "INFO"


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(",", ".").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class ErrorGroup:
    signature: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample: str


@dataclass
class PatternHit:
    pattern: Pattern
    count: int = 0
    subjects: dict[str, int] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str = ""

    @property
    def subject(self) -> str:
        """The host:port (or host) named most often, if any."""
        return max(self.subjects.items(), key=lambda kv: (kv[1], kv[0]))[0] if self.subjects else ""


@dataclass
class LogAnalysis:
    lines: int
    error_lines: int
    groups: list[ErrorGroup]
    patterns: list[PatternHit]


def analyze(lines: Iterable[str], *, max_groups: int = 20) -> LogAnalysis:
    """Group error lines by normalised message and recognise known patterns.

    Groups are ordered by count (then first seen); patterns by count. Lines at
    any level count towards patterns (an ECONNREFUSED logged as a warning is
    still a refused connection); only ERROR-level lines are grouped.
    """
    groups: dict[str, ErrorGroup] = {}
    hits: dict[str, PatternHit] = {}
    total = errors = 0
    for raw in lines:
        if not raw.strip():
            continue
        total += 1
        line = parse_line(raw)
        if line.level == "ERROR":
            errors += 1
            signature = normalize(line.message)
            group = groups.get(signature)
            if group is None:
                groups[signature] = ErrorGroup(signature, 1, line.at, line.at, line.message[:500])
            else:
                group.count += 1
                group.first_seen = _earliest(group.first_seen, line.at)
                group.last_seen = _latest(group.last_seen, line.at)
        for pattern in PATTERNS:
            if pattern.regex.search(line.text):
                hit = hits.setdefault(pattern.id, PatternHit(pattern=pattern, sample=line.message[:500]))
                hit.count += 1
                hit.first_seen = _earliest(hit.first_seen, line.at)
                hit.last_seen = _latest(hit.last_seen, line.at)
                subject = _subject(line.message, pattern)
                if subject:
                    hit.subjects[subject] = hit.subjects.get(subject, 0) + 1
                break  # the first (most specific) pattern explains the line
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.first_seen or datetime.max.replace(tzinfo=UTC)))
    return LogAnalysis(
        lines=total,
        error_lines=errors,
        groups=ordered[:max_groups],
        patterns=sorted(hits.values(), key=lambda h: (-h.count, h.pattern.id)),
    )


def _subject(text: str, pattern: Pattern) -> str:
    match = _HOST_PORT.search(text)
    if match and not match.group("host").isdigit():
        return f"{match.group('host')}:{match.group('port')}"
    if pattern.id == "dns":
        match = _DNS_HOST.search(text)
        if match:
            return match.group("host")
    return ""


def _earliest(a, b):
    return b if a is None else a if b is None else min(a, b)


def _latest(a, b):
    return b if a is None else a if b is None else max(a, b)


def _lines_evidence(query: str, lines: int, table: Table | None = None) -> Evidence:
    """Evidence counted in log lines: any line of the kind is worth reading (threshold 0)."""
    return Evidence(query=query, observed=lines, threshold=0, unit="lines", table=table)


def findings_from_logs(analysis: LogAnalysis, *, source: str, check_prefix: str = "logs") -> list[Finding]:
    """Findings for the timeline: one for the error groups, one per recognised pattern."""
    findings: list[Finding] = []
    query = f"logs of {source}"
    if analysis.groups:
        top = analysis.groups[0]
        findings.append(
            Finding(
                check=f"{check_prefix}.error_groups",
                status=FindingStatus.WARN,
                summary=(
                    f"{analysis.error_lines} error lines in {len(analysis.groups)} groups; most frequent "
                    f"({top.count}×): {top.signature[:120]}"
                ),
                subject=source,
                evidence=_lines_evidence(
                    query,
                    analysis.error_lines,
                    Table(
                        columns=["count", "message", "first seen", "last seen"],
                        rows=[[g.count, g.signature, g.first_seen, g.last_seen] for g in analysis.groups],
                    ),
                ),
                remediation="Start with the most frequent error group; the sample line shows it unmasked.",
            )
        )
    else:
        findings.append(
            Finding(
                check=f"{check_prefix}.error_groups",
                status=FindingStatus.OK,
                summary=f"No error lines in {analysis.lines} lines",
                subject=source,
                evidence=_lines_evidence(query, 0),
            )
        )
    for hit in analysis.patterns:
        pattern = hit.pattern
        where = f" to {hit.subject}" if hit.subject else ""
        findings.append(
            Finding(
                check=f"{check_prefix}.pattern.{pattern.id}",
                status=pattern.severity,
                summary=f"{pattern.title}{where}: {hit.count} lines — {pattern.meaning}",
                subject=hit.subject or source,
                evidence=_lines_evidence(
                    query,
                    hit.count,
                    Table(
                        columns=["first seen", "last seen", "sample"],
                        rows=[[hit.first_seen, hit.last_seen, hit.sample]],
                    ),
                ),
                remediation=pattern.remedy,
                runbook=pattern.runbook,
            )
        )
    return findings
