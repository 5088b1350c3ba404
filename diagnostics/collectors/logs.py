"""Log-pattern analysis: a pure function over log lines.

What ``kubectl logs … | grep ERROR | cut -d: -f2 | sort | uniq -c | sort -rn``
tries to do, done properly: error lines are grouped by their message with the
variable parts (numbers, ids, hex, timestamps, addresses) masked, counted, and
dated (first/last seen); and lines are matched against known failure patterns
that say what they mean and what to do. The patterns live in one table,
``PATTERNS``: add a row to recognise a new one.

Many failures carry no level word: a Python traceback ending in
``KeyError: 'DATABASE_URL'``, ``OSError: [Errno 13] Permission denied``, a
tool's own line (``wget: bad address 'db'``), a Go panic, an
``exec: "x": executable file not found``. Such lines count as errors by their
shape (exception lines, errno names and messages, exit lines, failure
phrasing); the frames of a traceback are context, not errors of their own.
For each log the most telling line (the ``decisive_line``) is kept: the last
line of the most specific kind, the one a person would quote.

Used by the Kubernetes collector on container logs; works on any text.
"""

import errno
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
    # Generic shapes (errno, "not found", exception lines) also occur in lines a program logs as
    # information ("config file not found, using defaults"): they count only on error or level-less lines.
    generic: bool = False
    # How telling a line of this kind is, for choosing a log's decisive line: 3 names the cause,
    # 2 is an exception or errno without a known meaning, 1 a failure phrase, 0 only says it exited.
    weight: int = 3


def _p(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


DATA_AT_RISK_REMEDY = (
    "Stop the writes that fail, do not restart the store in a loop, and copy its data directory or volume "
    "snapshot before any repair; check the volume's space and health (kubectl describe pvc, the node's kernel "
    "log); restore the damaged table or file from backup or point-in-time recovery."
)

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
        "exec_not_found",
        _p(
            r"executable file not found in \$PATH|exec format error|"
            r"\bexec (?P<name>/\S+): no such file or directory|"
            r"^\s*(?:/bin/)?(?:ba|da|a)?sh: (?:\d+: |line \d+: )?(?P<name2>[^\s:]+): (?:command )?not found|"
            r"exec: \"(?P<name3>[^\"]+)\": (?:executable file not found|permission denied)"
        ),  # fmt: skip
        "The container's command cannot be executed",
        "The entrypoint or command names a program missing from the image (or built for another CPU, "
        "or not executable): the container exits before the application starts.",
        "Compare the pod's command/args with the image (docker run --entrypoint sh IMAGE -c 'which …'); "
        "check the image's architecture and the file's executable bit.",
        runbook="service-not-starting",
        generic=True,
    ),
    Pattern(
        "missing_env",
        _p(
            r"KeyError: ['\"](?P<name>(?-i:[A-Z][A-Z0-9_]{2,}))['\"]|"
            r"environment variable:? [\"'`]?(?P<name2>(?-i:[A-Z][A-Z0-9_]{2,}))[\"'`]?"
            r"(?: is)? (?:not set|not defined|missing|undefined|required|must be set|is empty)|"
            r"(?:missing|undefined|required|unset) (?:required )?(?:environment|env) (?:variable|var)s?:? "
            r"[\"'`]?(?P<name3>(?-i:[A-Z][A-Z0-9_]{2,}))|"
            r"Environment variable not found: (?P<name4>(?-i:[A-Z][A-Z0-9_]{2,}))|"
            r"\b(?P<name5>(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+)) "
            r"(?:is not set|is not defined|is undefined|is required|must be set)|"
            r"ImproperlyConfigured: Set the (?P<name6>(?-i:[A-Z][A-Z0-9_]+)) environment variable"
        ),  # fmt: skip
        "A required environment variable is missing",
        "The application reads a setting from its environment at start and it is not there: the "
        "ConfigMap/Secret key is missing, misnamed or not referenced in the pod spec.",
        "Compare the pod's env/envFrom with what the application needs (kubectl set env deployment/… --list); "
        "add the key to the ConfigMap or Secret and restart.",
        runbook="service-not-starting",
        generic=True,
    ),
    Pattern(
        "module_not_found",
        _p(
            r"ModuleNotFoundError: No module named ['\"](?P<name>[\w.]+)['\"]|"
            r"ImportError: (?:cannot import name ['\"](?P<name2>[\w.]+)['\"]|No module named ['\"]?(?P<name3>[\w.]+))|"
            r"Cannot find module ['\"](?P<name4>[^'\"]+)['\"]|"
            r"(?:java\.lang\.)?(?:ClassNotFoundException|NoClassDefFoundError): (?P<name5>[\w.$/]+)|"
            r"Could not find or load main class (?P<name6>[\w.$]+)|"
            r"error while loading shared libraries: (?P<name7>[^\s:]+)"
        ),  # fmt: skip
        "A module, class or library is missing",
        "Code the application imports at start is not in the image: a dependency not installed, "
        "a wrong build stage, or a renamed module.",
        "Check the image's build (dependencies installed in the final stage) and the import named here; "
        "roll back to the previous image if this build introduced it.",
        runbook="service-not-starting",
        generic=True,
    ),
    Pattern(
        "econnrefused",
        _p(r"\bECONNREFUSED\b|connection refused|Connection to \S+ refused"),
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
            r"Temporary failure in name resolution|unable to resolve host|could not resolve host|"
            r"can't resolve ['\"]?[\w.-]+|\bbad address ['\"]|server can't find|\bNXDOMAIN\b|"
            r"could not translate host name|host not found in upstream|UnknownHostException|"
            r"nodename nor servname provided"
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
    Pattern(
        "permission_denied",
        _p(r"\bEACCES\b|\bEPERM\b|\[Errno 1?3\]|Permission denied|Operation not permitted|\bAccessDeniedException\b"),
        "Permission denied",
        "The process may not open, write or bind what it needs: a file owned by another user, a "
        "read-only mount, a port below 1024 without the capability, or a securityContext that drops it.",
        "Check the pod's securityContext (runAsUser, fsGroup, readOnlyRootFilesystem, capabilities) against "
        "the path or port in the line, and the volume's ownership.",
        runbook="service-not-starting",
        generic=True,
    ),
    Pattern(
        "file_not_found",
        _p(
            r"\bENOENT\b|FileNotFoundError|NoSuchFileException|No such file or directory|"
            r"\[Errno 2\]|(?:config(?:uration)? )?file (?:['\"][^'\"]+['\"] )?(?:not found|does not exist)"
        ),  # fmt: skip
        "A file or directory is missing",
        "A path the application opens at start does not exist: a ConfigMap or Secret not mounted, a "
        "mount at another path, or a file missing from the image.",
        "Compare the path in the line with the pod's volumeMounts (kubectl describe pod) and the "
        "ConfigMap/Secret keys projected there.",
        runbook="service-not-starting",
        generic=True,
    ),
    Pattern(
        "data_corruption",
        _p(
            r"invalid page in block \d+|could not read block \d+|page verification failed|"
            r"checksum verification failed|missing chunk number \d+ for toast value|"
            r"could not access status of transaction \d+|unexpected data beyond EOF in block|"
            r"xlog flush request \S+ is not satisfied|"
            r"could not (?:extend|write to|fsync) file .*(?:No space left on device|Input/output error)|"
            r"InnoDB: (?:Database page corruption|Corrupted page)"
        ),  # fmt: skip
        "Stored data is damaged or a write did not reach the disk",
        "The database read a damaged page, or could not write or flush what it was asked to keep: a full "
        "or failing volume, or corruption. Writes may have been lost.",
        DATA_AT_RISK_REMEDY,
    ),
    Pattern(
        "corruption_reported",
        _p(
            r"\b(?:data|index|page|block|database|table|file) corruption\b|"
            r"\bcorrupt(?:ed)? (?:index|page|block|database|table|data|record|file)s?\b"
        ),  # fmt: skip
        "A program reports corrupted data",
        "The application or one of its stores says what it read is corrupt: a damaged file, index or "
        "record. What was stored there may be lost.",
        DATA_AT_RISK_REMEDY,
        generic=True,  # "0 corrupted pages" in an INFO line is a healthy scan
    ),
    Pattern(
        "errno",
        _p(
            r"\[Errno -?\d+\]|\b(?:EADDRINUSE|ECONNRESET|EPIPE|ENOSPC|EROFS|EMFILE|ENFILE|ENOMEM|EEXIST|EISDIR|"
            r"ENOTDIR|EINVAL|EBADF|EAGAIN|EBUSY|ENOTCONN|ENETUNREACH|ECONNABORTED)\b|"
            r"Address already in use|No space left on device|Read-only file system|Too many open files|"
            r"Connection reset by peer|Broken pipe|Disk quota exceeded|Cannot allocate memory"
        ),  # fmt: skip
        "System call failed",
        "The operating system refused an operation (the errno names which): a port already taken, a full "
        "or read-only disk, too many open files, a connection reset by the peer.",
        "Read the errno and the path or address in the line; for disks check the volume's usage, for ports "
        "the container's port and a second process in the pod.",
        generic=True,
        weight=2,
        severity=FindingStatus.WARN,
    ),
    Pattern(
        "go_panic",
        _p(r"^\s*panic: |goroutine \d+ \[running\]|^\s*fatal error: (?!.*heap)"),
        "Go panic",
        "The program crashed with a panic; the lines after it hold the stack.",
        "Read the panic message and the first frames of the stack in the previous container's log.",
        weight=2,
    ),
    Pattern(
        "java_exception",
        _p(
            r"^Exception in thread \"[^\"]+\" |^\s*Caused by: (?:[a-z_$][\w$]*\.)+[A-Z][\w$]*|"
            r"^(?-i:(?:java|javax|jakarta|org|com|io|net|kotlin|scala)\.(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*"
            r"(?:Exception|Error))\b(?::|$)"
        ),  # fmt: skip
        "Java exception",
        "The JVM threw an exception; the last `Caused by:` is the root cause.",
        "Read the root cause (the last `Caused by:`) and its first application frame.",
        generic=True,
        weight=2,
        severity=FindingStatus.WARN,
    ),
    Pattern(
        "python_traceback",
        _p(r"^(?-i:(?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt))(?::\s|$)"),
        "Python exception",
        "The program raised an exception; the line shown is the exception itself (its traceback's last line).",
        "Read the exception and the frame above it in the container's log; if it happens at start, check the "
        "configuration and dependencies it reads first.",
        generic=True,
        weight=2,
        severity=FindingStatus.WARN,
    ),
    Pattern(
        "exit_line",
        _p(
            r"\bexit(?:ed)? (?:with )?(?:status|code)[ :=]*(?P<code>[1-9]\d*)\b|"
            r"command terminated with exit code (?P<code2>[1-9]\d*)|npm ERR! code ELIFECYCLE|"
            r"Process exited with status (?P<code3>[1-9]\d*)"
        ),  # fmt: skip
        "The process exited with an error code",
        "A program (the application or a step of its entrypoint) ended with a non-zero status.",
        "Read the lines just before the exit line: they say why it gave up.",
        severity=FindingStatus.WARN,
        generic=True,
        weight=0,
    ),
    Pattern(
        "failure_phrase",
        _p(
            r"\b(?:unable to|cannot|can't|could ?n[o']t|failed to|refused|denied|not found|missing|undefined|"
            r"not defined|does not exist|doesn't exist|is required|no such)\b"
        ),  # fmt: skip
        "Failure reported without a level",
        "A line says something could not be done (unable to / cannot / missing / not found / denied / "
        "refused / undefined) without a log level: a tool's or a script's own error message.",
        "Read the line and what it names; it often is the only trace of why a step or a start failed.",
        severity=FindingStatus.WARN,
        generic=True,
        weight=1,
    ),
)

_TIMESTAMP = re.compile(r"^\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*")
_LEVEL = re.compile(
    r"^(?:\[|level=|lvl=)?(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|PANIC)\b[\]:]?\s*",
    re.IGNORECASE,
)
# A level written as its own token further in ("[1] [INFO] Booting", "- app - WARNING - slow"), in capitals.
_LEVEL_TOKEN = re.compile(r"(?<![\w-])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)(?![\w-])")
_ERROR_WORD = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|PANIC)\b|^\s*panic: |Exception\b|\bError:", re.IGNORECASE)
_HOST_PORT = re.compile(
    r"(?<![\w.:-])(?P<host>(?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|localhost|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*):(?P<port>\d{2,5})\b",
    re.IGNORECASE,
)
_DNS_HOST = re.compile(
    r"(?:ENOTFOUND|EAI_AGAIN|lookup|resolve host address|resolve host|can't resolve|bad address|can't find|"
    r"host name|UnknownHostException:|in upstream)\s+[\"'`]?(?P<host>[a-z0-9][a-z0-9.-]*[a-z0-9])",
    re.IGNORECASE,
)
_PAREN_HOST = re.compile(r"(?:remote host|connect to) \(?(?P<host>(?:\d{1,3}\.){3}\d{1,3})\)?", re.IGNORECASE)
_ERRNO_NAME = re.compile(r"\b(E[A-Z]{2,}[A-Z0-9]*)\b")
_ERRNO_NUMBER = re.compile(r"\[Errno (\d+)\]|\((\d+): [A-Z][a-z]")
# Lines that belong to a stack trace rather than being errors of their own.
_FRAME = re.compile(
    r"^\s+at \S|^\s+File \"|^\s*\.\.\. \d+ (?:more|common frames omitted)|^\s+\S+\.go:\d+|"
    r"^\s*Traceback \(most recent call last\)|^\s*goroutine \d+ \[|"
    r"^(?:During handling of the above exception|The above exception was the direct cause)"
)
# An access-log request line: its "not found" or "denied" is the client's, not the program's.
_ACCESS_LOG = re.compile(r"\"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/\d")
_GO_FUNCTION = re.compile(r"^[\w./*()-]+\(.*\)$")  # "main.main()", "net/http.(*conn).serve(0xc000…)"
# A level word as loggers write it (upper case or bracketed), not an "Error:" or "panic:" that starts a message.
_LEVEL_WORD = re.compile(r"^(?:\[[A-Za-z]+\]|(?:TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL)\b):?\s+")
_QUIET_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN")

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
    explicit_level: bool = True  # the program wrote a level (or an error word); False: guessed INFO


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
            return LogLine(text, message, _level_name(level), at, explicit_level=bool(level))
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
        inline = re.search(r"\b(?:level|lvl)=(\w+)", rest, re.IGNORECASE) or _LEVEL_TOKEN.search(rest[:80])
        if inline:
            level = inline.group(1)
    if not level and _ERROR_WORD.search(rest):
        level = "ERROR"
    return LogLine(text, rest.strip(), _level_name(level), at, explicit_level=bool(level))


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
    names: dict[str, int] = field(default_factory=dict)
    errnos: dict[str, int] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str = ""

    @property
    def subject(self) -> str:
        """The host:port (or host) named most often, if any."""
        return _most(self.subjects)

    @property
    def name(self) -> str:
        """The variable, module, file or program named most often, if any."""
        return _most(self.names)

    @property
    def errno(self) -> str:
        return _most(self.errnos)


def _most(counts: dict[str, int]) -> str:
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if counts else ""


@dataclass
class LogAnalysis:
    lines: int
    error_lines: int
    groups: list[ErrorGroup]
    patterns: list[PatternHit]
    decisive_line: str = ""  # the most telling error line, in full (the last of the most telling kind)
    exit_line: str = ""  # the last "exited with code N" line, if any


def analyze(lines: Iterable[str], *, max_groups: int = 20) -> LogAnalysis:
    """Group error lines by normalised message and recognise known patterns.

    Groups are ordered by count (then first seen); patterns by count. Lines at
    any level count towards the specific patterns (an ECONNREFUSED logged as a
    warning is still a refused connection); generic ones only on error or
    level-less lines. A level-less line that matches a pattern is an error
    line. Only error lines are grouped; stack frames are neither.
    """
    groups: dict[str, ErrorGroup] = {}
    hits: dict[str, PatternHit] = {}
    total = errors = 0
    decisive: tuple[int, str] | None = None
    exit_line = ""
    in_trace = False  # inside a Python traceback, a Java stack or a Go goroutine dump
    for raw in lines:
        if not raw.strip():
            in_trace = False
            continue
        total += 1
        if _FRAME.search(raw) or (in_trace and (raw[:1] in (" ", "\t") or _GO_FUNCTION.match(raw))):
            in_trace = True
            continue
        in_trace = False
        line = parse_line(raw)
        quiet = line.explicit_level and line.level in _QUIET_LEVELS
        access = bool(_ACCESS_LOG.search(line.text))
        matched = None
        for pattern in PATTERNS:
            if pattern.generic and (quiet or access):
                continue
            match = pattern.regex.search(line.text)
            if match:
                matched = pattern
                hit = hits.setdefault(pattern.id, PatternHit(pattern=pattern, sample=line.message[:500]))
                hit.count += 1
                hit.first_seen = _earliest(hit.first_seen, line.at)
                hit.last_seen = _latest(hit.last_seen, line.at)
                for counts, value in (
                    (hit.subjects, _subject(line.message, pattern)),
                    (hit.names, _named(match)),
                    (hit.errnos, _errno(line.text)),
                ):
                    if value:
                        counts[value] = counts.get(value, 0) + 1
                break  # the first (most specific) pattern explains the line
        if matched is not None and not line.explicit_level:
            line.level = "ERROR"
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
            weight = matched.weight if matched is not None else 1
            if decisive is None or weight >= decisive[0]:
                decisive = (weight, _quoted(line))
            if matched is not None and matched.id == "exit_line":
                exit_line = line.message
        elif matched is not None and matched.weight == 3 and (decisive is None or decisive[0] < 3):
            decisive = (3, _quoted(line))  # a refused connection logged as a warning still names the cause
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.first_seen or datetime.max.replace(tzinfo=UTC)))
    return LogAnalysis(
        lines=total,
        error_lines=errors,
        groups=ordered[:max_groups],
        patterns=sorted(hits.values(), key=lambda h: (-h.count, h.pattern.id)),
        decisive_line=decisive[1][:2000] if decisive else "",
        exit_line=exit_line,
    )


def _quoted(line: LogLine) -> str:
    """The line as a person would quote it: without its timestamp and level word (a JSON line: its message)."""
    text = line.text.strip()
    if text.startswith("{"):
        return line.message
    match = _TIMESTAMP.match(text)
    if match:
        text = text[match.end() :]
    return _LEVEL_WORD.sub("", text, count=1).strip() or line.message


def _subject(text: str, pattern: Pattern) -> str:
    if pattern.id == "dns":  # the name that did not resolve, before any host:port (or file:line) in the line
        match = _DNS_HOST.search(text)
        if match:
            return match.group("host")
    match = _HOST_PORT.search(text)
    if match and not match.group("host").isdigit():
        return f"{match.group('host')}:{match.group('port')}"
    if pattern.id in ("econnrefused", "etimedout", "ehostunreach"):
        match = _PAREN_HOST.search(text)
        if match:
            return match.group("host")
    return ""


def _named(match: re.Match) -> str:
    """What a pattern's ``name…`` group caught: the variable, module, file or program."""
    return next((v for k, v in match.groupdict().items() if k.startswith("name") and v), "")


def _errno(text: str) -> str:
    """The errno a line names (``EACCES``, or ``[Errno 13]`` read as EACCES)."""
    for match in _ERRNO_NAME.finditer(text):
        if match.group(1) in errno.errorcode.values() or match.group(1) in ("ENOTFOUND", "EAI_AGAIN"):
            return match.group(1)
    match = _ERRNO_NUMBER.search(text)
    if match:
        return errno.errorcode.get(int(match.group(1) or match.group(2)), "")
    return ""


def _earliest(a, b):
    return b if a is None else a if b is None else min(a, b)


def _latest(a, b):
    return b if a is None else a if b is None else max(a, b)


def _lines_evidence(query: str, lines: int, table: Table | None = None, data: dict | None = None) -> Evidence:
    """Evidence counted in log lines: any line of the kind is worth reading (threshold 0)."""
    return Evidence(query=query, observed=lines, threshold=0, unit="lines", table=table, data=data)


def findings_from_logs(
    analysis: LogAnalysis, *, source: str, check_prefix: str = "logs", data: dict | None = None
) -> list[Finding]:
    """Findings for the timeline: one for the error groups, one per recognised pattern.

    ``data`` (e.g. which container, whether the previous one) is merged into each finding's ``evidence.data``.
    """
    findings: list[Finding] = []
    query = f"logs of {source}"
    base = {"source": source, **(data or {})}
    groups_data = {
        **base,
        "lines": analysis.lines,
        "error_lines": analysis.error_lines,
        "decisive_line": analysis.decisive_line,
        "exit_line": analysis.exit_line,
    }
    if analysis.groups:
        top = analysis.groups[0]
        decisive = f"; decisive: {analysis.decisive_line[:300]}" if analysis.decisive_line else ""
        findings.append(
            Finding(
                check=f"{check_prefix}.error_groups",
                status=FindingStatus.WARN,
                summary=(
                    f"{analysis.error_lines} error lines in {len(analysis.groups)} groups; most frequent "
                    f"({top.count}×): {top.signature[:120]}{decisive}"
                ),
                subject=source,
                evidence=_lines_evidence(
                    query,
                    analysis.error_lines,
                    Table(
                        columns=["count", "message", "first seen", "last seen"],
                        rows=[[g.count, g.signature, g.first_seen, g.last_seen] for g in analysis.groups],
                    ),
                    data=groups_data,
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
                evidence=_lines_evidence(query, 0, data=groups_data),
            )
        )
    for hit in analysis.patterns:
        pattern = hit.pattern
        where = f" to {hit.subject}" if hit.subject else f": {hit.name}" if hit.name else ""
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
                    data={
                        **base,
                        "pattern": pattern.id,
                        "sample": hit.sample,
                        "host": hit.subject,
                        "name": hit.name,
                        "errno": hit.errno,
                    },  # fmt: skip
                ),
                remediation=pattern.remedy,
                runbook=pattern.runbook,
            )
        )
    return findings
