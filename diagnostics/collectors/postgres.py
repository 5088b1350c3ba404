"""PostgreSQL collector: connection saturation, locks, slow queries, indexes, vacuum, migrations.

Connects with psycopg 3 using the target's DSN (read by the engine from the
variable the target names, ``dsn_env``, and passed in as the ``dsn`` secret),
in a read-only session with a short ``connect_timeout`` and
``statement_timeout``. Each check is one method; its thresholds are fields of
``PostgresConfig`` (defaults after PgHero, check_postgres and
awesome-prometheus-alerts), passed in by the engine. Works best with a role
that has ``pg_monitor`` (see docs/diagnostics.md).
"""

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from diagnostics.collectors.base import (
    NO_SECRETS,
    Collector,
    CollectorConfig,
    CollectorError,
    ConfigurationError,
    Evidence,
    Finding,
    FindingStatus,
    Secrets,
    Table,
    TargetSpec,
    Window,
    grade,
)

WARN, CRIT, ERROR = FindingStatus.WARN, FindingStatus.CRIT, FindingStatus.ERROR


@dataclass(frozen=True)
class PostgresConfig(CollectorConfig):
    """Connection limits and thresholds; each overridable as ``DIAGNOSTICS_POSTGRES_<FIELD>``."""

    connect_timeout: int = 5  # seconds
    statement_timeout_ms: int = 5000  # also the lock_timeout of every query
    connections_warn_percent: float = 80.0
    connections_crit_percent: float = 90.0
    idle_in_transaction_warn_seconds: int = 60
    idle_in_transaction_crit_seconds: int = 600
    long_query_warn_seconds: int = 60
    long_query_crit_seconds: int = 300
    lock_wait_crit_seconds: int = 30
    slow_query_mean_ms: float = 20.0
    slow_query_min_calls: int = 100
    slow_query_crit_mean_ms: float = 1000.0
    missing_index_min_rows: int = 10000
    missing_index_min_seq_scans: int = 10
    missing_index_max_index_usage_percent: float = 95.0
    unused_index_min_bytes: int = 1024 * 1024
    cache_hit_warn_percent: float = 99.0
    cache_hit_crit_percent: float = 90.0
    cache_hit_min_blocks: int = 1000
    bloat_warn_percent: float = 50.0
    bloat_min_bytes: int = 100 * 1024 * 1024
    dead_tuples_min: int = 10000
    dead_tuples_warn_percent: float = 20.0
    xid_age_warn: int = 1_200_000_000
    xid_age_crit: int = 1_500_000_000
    sequence_warn_percent: float = 75.0
    sequence_crit_percent: float = 90.0
    largest_tables: int = 5  # shown by the bloat check, bloated or not
    query_text_chars: int = 300  # of each query shown in evidence


RUNBOOK_POOL = "db-connection-pool-exhausted"
RUNBOOK_SLOW = "slow-queries"
RUNBOOK_MIGRATION = "db-migration-failure"
RUNBOOK_MAINTENANCE = "db-maintenance"

APPLICATION_NAME = "orion-ops-diagnostics"
XID_LIMIT = 2**31
TYPE_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}

# SQLSTATEs met while connecting.
TOO_MANY_CONNECTIONS = "53300"
PERMANENT_CONNECT_STATES = {
    "28P01": "password authentication failed",
    "28000": "the server refused this role or host (pg_hba.conf)",
    "3D000": "the database does not exist",
    "42501": "the role may not connect",
}


class TooManyConnections(CollectorError):
    """The server refused the collector's own connection: every usable slot is taken."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, counts_against_target=False)


def _n(value) -> str:
    return f"{int(value):,}"


def _pct(value: float) -> str:
    return f"{value:.1f} %" if value < 99.95 or value >= 100 else f"{value:.2f} %"


def _size(num_bytes) -> str:
    value = float(num_bytes or 0)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _seconds(value) -> str:
    value = float(value or 0)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL needs it written (quoted unless plain lower case)."""
    return name if _PLAIN_IDENT.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _session_subject(row: dict) -> str:
    return f"pid {row['pid']} ({row['application_name'] or row['usename'] or 'unknown'})"


def _rounded(key: str):
    """A table column: the row's number of seconds to a tenth."""
    return lambda row: round(row[key] or 0, 1)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class PostgresSession:
    """One read-only connection; remembers the last query so a failing check can show it."""

    def __init__(self, connection: psycopg.Connection, target: TargetSpec):
        self.connection = connection
        self.target = target
        self.last_query = ""
        self.server_version = connection.info.server_version
        self.database = connection.info.dbname

    def rows(self, query, params=None) -> list[dict]:
        self.last_query = query.as_string(self.connection) if isinstance(query, sql.Composable) else query
        with self.connection.transaction(), self.connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def row(self, query, params=None) -> dict | None:
        found = self.rows(query, params)
        return found[0] if found else None


@dataclass(frozen=True)
class _Index:
    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    opclasses: tuple[str, ...]
    unique: bool
    primary: bool
    method: str
    expressions: str | None
    predicate: str | None
    size: int
    definition: str


class PostgresCollector(Collector):
    kind = "postgres"
    config_class = PostgresConfig
    config: PostgresConfig
    soft_time_limit = 60
    time_limit = 90
    checks = (
        "connection_saturation",
        "idle_in_transaction",
        "long_running_queries",
        "blocked_queries",
        "slow_queries",
        "missing_indexes",
        "unused_indexes",
        "duplicate_indexes",
        "cache_hit_rate",
        "table_bloat",
        "dead_tuples",
        "xid_wraparound",
        "sequence_exhaustion",
        "prisma_migrations",
    )

    # -- connection -------------------------------------------------------------

    def checks_for(self, target: TargetSpec) -> tuple[str, ...]:
        if target.config.get("django_migrations"):
            return (*self.checks, "django_migrations")
        return self.checks

    def conninfo(self, target: TargetSpec, secrets: Secrets) -> tuple[str, list[str]]:
        """The connection string to use and the secrets to keep out of any message."""
        dsn = secrets.get("dsn", "")
        if not dsn:
            raise ConfigurationError(f"postgres target {target.name}: no DSN (name its variable with dsn_env)")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # The parser's message quotes the string, which may hold a password.
            name = target.config.get("dsn_env") or "its dsn_env variable"
            raise ConfigurationError(f"the value of {name} is not a valid PostgreSQL connection string") from None
        secrets_seen = [dsn, params.get("password") or ""]
        timeout_ms = int(self.config.statement_timeout_ms)
        options = " ".join(
            part
            for part in (
                params.get("options", ""),
                "-c default_transaction_read_only=on",
                f"-c statement_timeout={timeout_ms}",
                f"-c lock_timeout={timeout_ms}",
            )
            if part
        )
        params.update(
            connect_timeout=str(int(self.config.connect_timeout)),
            application_name=APPLICATION_NAME,
            options=options,
        )
        return make_conninfo(**params), secrets_seen

    @contextmanager
    def open(self, target: TargetSpec, window: Window, secrets: Secrets = NO_SECRETS):
        conninfo, secrets_seen = self.conninfo(target, secrets)
        try:
            connection = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise self.connect_error(exc, secrets_seen) from None
        try:
            connection.read_only = True
            yield PostgresSession(connection, target)
        finally:
            connection.close()

    def connect_error(self, exc: psycopg.OperationalError, secrets: list[str]) -> CollectorError:
        message = redact(" ".join(str(exc).split()), secrets) or type(exc).__name__
        state = exc.sqlstate or ""
        if state == TOO_MANY_CONNECTIONS or "too many clients" in message or "connection slots are reserved" in message:
            return TooManyConnections(f"could not connect: {message}")
        if state in PERMANENT_CONNECT_STATES or "password authentication failed" in message:
            return CollectorError(f"could not connect: {message}", permanent=True)
        return CollectorError(f"could not connect: {message}", permanent=False)

    def collect(
        self, target: TargetSpec, window: Window, *, secrets: Secrets = NO_SECRETS, progress=None
    ) -> list[Finding]:
        try:
            return super().collect(target, window, secrets=secrets, progress=progress)
        except TooManyConnections as exc:
            # The refusal is itself the finding: the pool is exhausted.
            return self.findings_when_full(target, exc)

    def findings_when_full(self, target: TargetSpec, exc: TooManyConnections) -> list[Finding]:
        findings = [
            self.finding(
                "connection_saturation",
                CRIT,
                "The server refused a new connection: every usable connection slot is taken (100 %)",
                subject=target.name,
                evidence=Evidence(query="(connect)", observed=100, threshold=self._connection_thresholds(), unit="%"),
                remediation=self._saturation_remediation(target, usable=None) + " " + exc.message,
                runbook=RUNBOOK_POOL,
            )
        ]
        for name in self.checks_for(target)[1:]:
            findings.append(
                self.finding(
                    name, ERROR, "Check could not run: the server had no connection slot left for the collector"
                )
            )
        return findings

    # -- checks -------------------------------------------------------------------

    def _connection_thresholds(self) -> dict:
        return {"warn": self.config.connections_warn_percent, "crit": self.config.connections_crit_percent}

    def _saturation_remediation(self, target: TargetSpec, *, usable: int | None) -> str:
        text = (
            "See who holds the connections (table): many idle ones mean application pools larger than needed or "
            "connections not returned; many active ones mean slow queries (see below). Lower each service's pool "
            "size (Prisma: connection_limit in the URL; the pool timeout is error P2024), put PgBouncer in front, "
            "or raise max_connections only with memory to spare. End a stuck session with "
            "SELECT pg_terminate_backend(pid);"
        )
        pool = target.config.get("pool_size_per_pod")
        if pool and usable:
            text += (
                f" Each pod of this service opens up to {pool} connections: at most {usable // int(pool)} pods fit "
                f"in the {usable} usable connections, shared with every other client."
            )
        return text

    def _longest_wait(
        self,
        session: PostgresSession,
        name: str,
        seconds: float,
        threshold: dict,
        summary: str,
        *,
        table: Table,
        **details,
    ) -> Finding:
        """A finding graded on the longest duration among the sessions of ``table`` (idle, running, waiting)."""
        evidence = Evidence(
            query=session.last_query, observed=round(seconds, 1), threshold=threshold, unit="s", table=table
        )
        return self.finding(name, grade(seconds, **threshold), summary, evidence=evidence, **details)

    def _none_found(self, session: PostgresSession, name: str, summary: str, *, threshold, unit: str, table=None):
        """The ok finding of a check that found nothing past its thresholds in the database."""
        evidence = Evidence(query=session.last_query, observed=0, threshold=threshold, unit=unit, table=table)
        return self.ok(name, summary, subject=session.database, evidence=evidence)

    def connection_saturation(self, session: PostgresSession, window: Window) -> Finding:
        limits = session.row(
            """SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       COALESCE(NULLIF(current_setting('reserved_connections', true), ''), '0')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS in_use"""
        )
        by_holder = session.rows(
            """SELECT COALESCE(NULLIF(application_name, ''), '(none)') AS application,
       COALESCE(usename, '(unknown)') AS username,
       COALESCE(state, '(hidden)') AS state,
       count(*) AS connections
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3
ORDER BY connections DESC, 1, 2, 3
LIMIT 10"""
        )
        usable = max(limits["max_connections"] - limits["superuser_reserved"] - limits["reserved"], 1)
        in_use = limits["in_use"]
        percent = 100.0 * in_use / usable
        threshold = self._connection_thresholds()
        status = grade(percent, **threshold)
        states: dict[str, int] = {}
        for row in by_holder:
            states[row["state"]] = states.get(row["state"], 0) + row["connections"]
        by_state = ", ".join(f"{count} {state}" for state, count in sorted(states.items(), key=lambda i: -i[1]))
        return self.finding(
            "connection_saturation",
            status,
            f"{in_use} of {usable} usable connections in use ({_pct(percent)})" + (f": {by_state}" if by_state else ""),
            subject=session.database,
            evidence=Evidence(
                query=session.last_query,
                observed=round(percent, 1),
                threshold=threshold,
                unit="%",
                table=Table(
                    columns=["application", "user", "state", "connections"],
                    rows=[[r["application"], r["username"], r["state"], r["connections"]] for r in by_holder],
                ),
                range={
                    "in_use": in_use,
                    "usable": usable,
                    "max_connections": limits["max_connections"],
                    "reserved": limits["superuser_reserved"] + limits["reserved"],
                },
            ),
            remediation=self._saturation_remediation(session.target, usable=usable),
            runbook=RUNBOOK_POOL,
        )

    def idle_in_transaction(self, session: PostgresSession, window: Window) -> Finding:
        rows = session.rows(
            """SELECT pid, usename, application_name, state,
       EXTRACT(EPOCH FROM now() - state_change)::float AS idle_seconds,
       EXTRACT(EPOCH FROM now() - xact_start)::float AS transaction_seconds,
       left(query, %(chars)s) AS last_query,
       count(*) OVER () AS total
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND pid <> pg_backend_pid()
ORDER BY state_change
LIMIT 10""",
            {"chars": self.config.query_text_chars},
        )
        threshold = {
            "warn": self.config.idle_in_transaction_warn_seconds,
            "crit": self.config.idle_in_transaction_crit_seconds,
        }
        if not rows:
            return self._none_found(
                session,
                "idle_in_transaction",
                "0 sessions idle in transaction",
                threshold=threshold,
                unit="s",
            )
        oldest = rows[0]
        idle = oldest["idle_seconds"] or 0.0
        return self._longest_wait(
            session,
            "idle_in_transaction",
            idle,
            threshold,
            f"{rows[0]['total']} session(s) idle in transaction, oldest idle for {_seconds(idle)} "
            f"(pid {oldest['pid']})",
            subject=_session_subject(oldest),
            table=Table.of(
                rows,
                {
                    "pid": "pid",
                    "user": "usename",
                    "application": "application_name",
                    "state": "state",
                    "idle s": _rounded("idle_seconds"),
                    "transaction s": _rounded("transaction_seconds"),
                    "last query": "last_query",
                },
            ),
            remediation=(
                "A session idle in a transaction keeps its connection, its locks and its snapshot (VACUUM cannot "
                "clean behind it). Find the code path that opens a transaction and then waits (a missing commit, "
                f"a network call inside a transaction). End it now with SELECT pg_terminate_backend({oldest['pid']}); "
                "and set idle_in_transaction_session_timeout for the application's role."
            ),
            runbook=RUNBOOK_POOL,
        )

    def long_running_queries(self, session: PostgresSession, window: Window) -> Finding:
        rows = session.rows(
            """SELECT pid, usename, application_name, wait_event_type, wait_event,
       EXTRACT(EPOCH FROM now() - query_start)::float AS running_seconds,
       left(query, %(chars)s) AS query
FROM pg_stat_activity
WHERE state = 'active'
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND backend_type NOT IN ('autovacuum worker', 'walsender')
  AND query NOT ILIKE 'autovacuum:%%'
  AND now() - query_start > make_interval(secs => %(warn)s)
ORDER BY query_start
LIMIT 10""",
            {"chars": self.config.query_text_chars, "warn": self.config.long_query_warn_seconds},
        )
        threshold = {"warn": self.config.long_query_warn_seconds, "crit": self.config.long_query_crit_seconds}
        if not rows:
            return self._none_found(
                session,
                "long_running_queries",
                f"0 queries running longer than {_seconds(threshold['warn'])}",
                threshold=threshold,
                unit="s",
            )
        longest = rows[0]
        seconds = longest["running_seconds"] or 0.0
        return self._longest_wait(
            session,
            "long_running_queries",
            seconds,
            threshold,
            f"{len(rows)} quer{'y' if len(rows) == 1 else 'ies'} running longer than "
            f"{_seconds(threshold['warn'])}; longest {_seconds(seconds)} (pid {longest['pid']})",
            subject=_session_subject(longest),
            table=Table.of(
                rows,
                {
                    "pid": "pid",
                    "user": "usename",
                    "application": "application_name",
                    "running s": _rounded("running_seconds"),
                    "waiting on": lambda r: (
                        f"{r['wait_event_type']}: {r['wait_event']}" if r["wait_event_type"] else ""
                    ),
                    "query": "query",
                },
            ),
            remediation=(
                "Look at the plan with EXPLAIN (ANALYZE, BUFFERS) on a copy of the query; check the missing-index "
                f"and lock findings. Cancel it with SELECT pg_cancel_backend({longest['pid']}); (or "
                "pg_terminate_backend), and cap runaway queries with a statement_timeout on the application's role."
            ),
            runbook=RUNBOOK_SLOW,
        )

    def blocked_queries(self, session: PostgresSession, window: Window) -> Finding:
        rows = session.rows(
            """SELECT blocked.pid AS blocked_pid,
       blocked.usename AS blocked_user,
       blocking.pid AS blocking_pid,
       blocking.usename AS blocking_user,
       blocking.state AS blocking_state,
       waiting.mode AS lock_mode,
       waiting.locktype AS lock_type,
       waiting.relation::regclass::text AS relation,
       EXTRACT(EPOCH FROM now() - blocked.query_start)::float AS waiting_seconds,
       left(blocked.query, %(chars)s) AS blocked_query,
       left(blocking.query, %(chars)s) AS blocking_query
FROM pg_stat_activity AS blocked
CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS blocker(pid)
JOIN pg_stat_activity AS blocking ON blocking.pid = blocker.pid
LEFT JOIN pg_locks AS waiting ON waiting.pid = blocked.pid AND NOT waiting.granted
WHERE blocked.pid <> pg_backend_pid()
ORDER BY waiting_seconds DESC NULLS LAST
LIMIT 20""",
            {"chars": self.config.query_text_chars},
        )
        threshold = {"warn": 0, "crit": self.config.lock_wait_crit_seconds}
        if not rows:
            return self._none_found(
                session,
                "blocked_queries",
                "0 sessions waiting for a lock",
                threshold=threshold,
                unit="s",
            )
        first = rows[0]
        seconds = first["waiting_seconds"] or 0.0
        blocked_pids = {r["blocked_pid"] for r in rows}
        on = f" on {first['relation']}" if first["relation"] else ""
        return self._longest_wait(
            session,
            "blocked_queries",
            seconds,
            threshold,
            f"{len(blocked_pids)} session(s) waiting for a lock; pid {first['blocked_pid']} has waited "
            f"{_seconds(seconds)} for pid {first['blocking_pid']} ({first['lock_mode'] or 'lock'}{on})",
            subject=f"pid {first['blocked_pid']} blocked by pid {first['blocking_pid']}",
            table=Table.of(
                rows,
                {
                    "blocked pid": "blocked_pid",
                    "blocking pid": "blocking_pid",
                    "lock mode": "lock_mode",
                    "relation": "relation",
                    "waiting s": _rounded("waiting_seconds"),
                    "blocking state": "blocking_state",
                    "blocked query": "blocked_query",
                    "blocking query": "blocking_query",
                },
            ),
            remediation=(
                f"pid {first['blocking_pid']} holds the lock ({first['blocking_state'] or 'state hidden'}). If it is "
                f"idle in transaction or stuck, end it with SELECT pg_terminate_backend({first['blocking_pid']});. "
                "Keep transactions short, and run schema changes with a low lock_timeout so they fail instead of "
                "queueing every query behind them."
            ),
            runbook=RUNBOOK_SLOW,
        )

    def slow_queries(self, session: PostgresSession, window: Window) -> Finding:
        threshold = {"mean_ms": self.config.slow_query_mean_ms, "calls": self.config.slow_query_min_calls}
        extension = session.row(
            """SELECT n.nspname AS schema_name
FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'"""
        )
        if extension is None:
            return self.no_data(
                "slow_queries",
                f"pg_stat_statements is not installed in {session.database}: slow queries cannot be listed",
                subject=session.database,
                evidence=Evidence(query=session.last_query, threshold=threshold, unit="ms"),
                remediation="Add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, then run "
                "CREATE EXTENSION pg_stat_statements; in this database.",
                runbook=RUNBOOK_SLOW,
            )
        modern = session.server_version >= 130000
        query = sql.SQL(
            """SELECT s.queryid, s.calls, s.{mean} AS mean_ms, s.{total} AS total_ms, s.rows, r.rolname AS role,
       left(s.query, %(chars)s) AS query
FROM {schema}.pg_stat_statements AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.calls >= %(calls)s AND s.{mean} >= %(mean_ms)s
ORDER BY s.{total} DESC
LIMIT 10"""
        ).format(
            mean=sql.Identifier("mean_exec_time" if modern else "mean_time"),
            total=sql.Identifier("total_exec_time" if modern else "total_time"),
            schema=sql.Identifier(extension["schema_name"]),
        )
        try:
            rows = session.rows(
                query,
                {
                    "chars": self.config.query_text_chars,
                    "calls": self.config.slow_query_min_calls,
                    "mean_ms": self.config.slow_query_mean_ms,
                },
            )
        except psycopg.errors.ObjectNotInPrerequisiteState as exc:
            return self.no_data(
                "slow_queries",
                f"pg_stat_statements is installed but not loaded: {self.describe_error(exc)}",
                subject=session.database,
                evidence=Evidence(query=session.last_query, threshold=threshold, unit="ms"),
                remediation="Add pg_stat_statements to shared_preload_libraries and restart PostgreSQL.",
                runbook=RUNBOOK_SLOW,
            )
        table = Table(
            columns=["queryid", "calls", "mean ms", "total ms", "rows", "role", "query"],
            rows=[
                [
                    str(r["queryid"]),
                    r["calls"],
                    round(r["mean_ms"], 1),
                    round(r["total_ms"]),
                    r["rows"],
                    r["role"],
                    r["query"],
                ]
                for r in rows
            ],
        )
        if not rows:
            return self._none_found(
                session,
                "slow_queries",
                f"0 statements average ≥ {self.config.slow_query_mean_ms:g} ms over "
                f"≥ {_n(self.config.slow_query_min_calls)} calls",
                threshold=threshold,
                unit="ms",
                table=table,
            )
        worst = max(rows, key=lambda r: r["mean_ms"])
        status = grade(worst["mean_ms"], warn=self.config.slow_query_mean_ms, crit=self.config.slow_query_crit_mean_ms)
        top = rows[0]
        return self.finding(
            "slow_queries",
            status,
            f"{len(rows)} slow statement(s); the costliest averages {top['mean_ms']:.0f} ms over "
            f"{_n(top['calls'])} calls (queryid {top['queryid']})",
            subject=f"queryid {top['queryid']}",
            evidence=Evidence(
                query=session.last_query,
                observed=round(worst["mean_ms"], 1),
                threshold=threshold,
                unit="ms",
                table=table,
            ),
            remediation=(
                "Run EXPLAIN (ANALYZE, BUFFERS) on the costliest statement with representative values; a sequential "
                "scan over a large table points at a missing index (see the missing-index finding), a stale row "
                "estimate at ANALYZE. After a fix, SELECT pg_stat_statements_reset(); to measure afresh."
            ),
            runbook=RUNBOOK_SLOW,
        )

    def missing_indexes(self, session: PostgresSession, window: Window) -> list[Finding]:
        t = self.config
        tables = session.rows(
            """SELECT t.relid, t.schemaname, t.relname, t.seq_scan, t.seq_tup_read,
       COALESCE(t.idx_scan, 0) AS idx_scan, t.n_live_tup,
       100.0 * COALESCE(t.idx_scan, 0) / NULLIF(t.seq_scan + COALESCE(t.idx_scan, 0), 0) AS index_usage_percent
FROM pg_stat_user_tables AS t
WHERE t.n_live_tup >= %(rows)s
  AND t.seq_scan >= %(scans)s
  AND 100.0 * COALESCE(t.idx_scan, 0) / NULLIF(t.seq_scan + COALESCE(t.idx_scan, 0), 0) < %(usage)s
ORDER BY t.seq_tup_read DESC
LIMIT 5""",
            {
                "rows": t.missing_index_min_rows,
                "scans": t.missing_index_min_seq_scans,
                "usage": t.missing_index_max_index_usage_percent,
            },
        )
        table_query = session.last_query
        threshold = {
            "rows": t.missing_index_min_rows,
            "seq_scans": t.missing_index_min_seq_scans,
            "index_usage_percent_below": t.missing_index_max_index_usage_percent,
        }
        if not tables:
            return [
                self.ok(
                    "missing_indexes",
                    f"0 tables over {_n(t.missing_index_min_rows)} rows are read mostly by sequential scans",
                    subject=session.database,
                    evidence=Evidence(query=table_query, observed=0, threshold=threshold, unit="tables"),
                )
            ]
        # n_distinct > 0 is a count of distinct values; < 0 is minus the fraction of rows that are
        # distinct (-1 = unique). Columns already leading an index are not candidates.
        columns = session.rows(
            """SELECT c.oid AS relid, s.attname, s.n_distinct, s.null_frac, c.reltuples,
       CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * GREATEST(c.reltuples, 0) ELSE s.n_distinct END
           AS distinct_estimate
FROM pg_stats AS s
JOIN pg_namespace AS n ON n.nspname = s.schemaname
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = s.tablename
WHERE c.oid = ANY(%(relids)s)
  AND s.null_frac < 0.5
  AND NOT EXISTS (
      SELECT 1 FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = c.oid AND a.attname = s.attname)
ORDER BY distinct_estimate DESC""",
            {"relids": [r["relid"] for r in tables]},
        )
        stats_query = session.last_query
        findings = []
        for row in tables:
            candidates = [c for c in columns if c["relid"] == row["relid"] and (c["distinct_estimate"] or 0) >= 100][:3]
            name = qualified(row["schemaname"], row["relname"])
            usage = float(row["index_usage_percent"] or 0)
            if candidates:
                best = candidates[0]
                suggestion = (
                    f"If the slow queries filter on {best['attname']} (≈{_n(best['distinct_estimate'])} distinct "
                    f"values): CREATE INDEX CONCURRENTLY ON {name} ({quote_ident(best['attname'])});"
                )
            else:
                suggestion = (
                    f"No high-cardinality column statistics for {name}: run ANALYZE {name}; and look at the "
                    "WHERE clauses of its slow queries."
                )
            findings.append(
                self.finding(
                    "missing_indexes",
                    WARN,
                    f"{name}: {_n(row['seq_scan'])} sequential scans read {_n(row['seq_tup_read'])} rows; "
                    f"indexes served {usage:.0f} % of scans ({_n(row['n_live_tup'])} rows)",
                    subject=name,
                    evidence=Evidence(
                        query=table_query + ";\n\n" + stats_query,
                        observed=round(usage, 1),
                        threshold=threshold,
                        unit="% index scans",
                        table=Table(
                            columns=["column", "n_distinct", "distinct (estimated)", "null_frac"],
                            rows=[
                                [c["attname"], c["n_distinct"], round(c["distinct_estimate"] or 0), c["null_frac"]]
                                for c in candidates
                            ],
                        ),
                    ),
                    remediation=suggestion
                    + " Build it CONCURRENTLY so writes continue; check the plan afterwards with EXPLAIN.",
                    runbook=RUNBOOK_SLOW,
                )
            )
        return findings

    def unused_indexes(self, session: PostgresSession, window: Window) -> Finding:
        rows = session.rows(
            """SELECT s.schemaname, s.relname AS table_name, s.indexrelname AS index_name, s.idx_scan,
       pg_relation_size(s.indexrelid) AS bytes,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0
  AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = s.indexrelid)
  AND pg_relation_size(s.indexrelid) >= %(bytes)s
ORDER BY bytes DESC
LIMIT 10""",
            {"bytes": self.config.unused_index_min_bytes},
        )
        threshold = {"scans": 0, "min_bytes": self.config.unused_index_min_bytes}
        if not rows:
            return self._none_found(
                session,
                "unused_indexes",
                f"0 unused indexes of {_size(self.config.unused_index_min_bytes)} or more",
                threshold=threshold,
                unit="indexes",
            )
        since = rows[0]["stats_reset"]
        total = sum(r["bytes"] for r in rows)
        first = rows[0]
        return self.finding(
            "unused_indexes",
            WARN,
            f"{len(rows)} index(es) never scanned since statistics were "
            f"{'reset ' + since.strftime('%Y-%m-%d') if since else 'first collected'}, {_size(total)} in all",
            subject=qualified(first["schemaname"], first["index_name"]),
            evidence=Evidence(
                query=session.last_query,
                observed=len(rows),
                threshold=threshold,
                unit="indexes",
                table=Table(
                    columns=["index", "table", "scans", "size"],
                    rows=[
                        [
                            qualified(r["schemaname"], r["index_name"]),
                            qualified(r["schemaname"], r["table_name"]),
                            r["idx_scan"],
                            _size(r["bytes"]),
                        ]
                        for r in rows
                    ],
                ),
            ),
            remediation=(
                "Unused indexes slow every write and take memory. Statistics are per server: confirm on the replicas, "
                f"then DROP INDEX CONCURRENTLY {qualified(first['schemaname'], first['index_name'])};"
            ),
            runbook=RUNBOOK_MAINTENANCE,
        )

    def duplicate_indexes(self, session: PostgresSession, window: Window) -> Finding:
        rows = session.rows(
            """SELECT n.nspname AS schema_name, t.relname AS table_name, ic.relname AS index_name,
       i.indrelid, i.indkey::text AS indkey, i.indclass::text AS indclass,
       i.indisunique, i.indisprimary, am.amname,
       pg_get_expr(i.indexprs, i.indrelid) AS expressions, pg_get_expr(i.indpred, i.indrelid) AS predicate,
       pg_relation_size(i.indexrelid) AS bytes, pg_get_indexdef(i.indexrelid) AS definition,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
             LEFT JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.pos)::text[] AS columns
FROM pg_index AS i
JOIN pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_class AS t ON t.oid = i.indrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
JOIN pg_am AS am ON am.oid = ic.relam
WHERE i.indisvalid
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY n.nspname, t.relname, ic.relname"""
        )
        indexes = [
            _Index(
                schema=r["schema_name"],
                table=r["table_name"],
                name=r["index_name"],
                columns=tuple(c or "(expression)" for c in r["columns"]),
                opclasses=tuple(r["indclass"].split()),
                unique=r["indisunique"],
                primary=r["indisprimary"],
                method=r["amname"],
                expressions=r["expressions"],
                predicate=r["predicate"],
                size=r["bytes"],
                definition=r["definition"],
            )
            for r in rows
        ]
        redundant: list[tuple[_Index, _Index]] = []
        for index in indexes:
            if index.unique or index.primary or index.expressions or index.method != "btree":
                continue
            for other in indexes:
                if other is index or (other.schema, other.table) != (index.schema, index.table):
                    continue
                if other.method != index.method or other.expressions or other.predicate != index.predicate:
                    continue
                n = len(index.columns)
                covers = other.columns[:n] == index.columns and other.opclasses[:n] == index.opclasses
                # Of two identical non-unique indexes, report the later name only.
                identical = other.columns == index.columns and not other.unique and other.name > index.name
                if covers and not identical and (len(other.columns) > n or other.unique or other.name < index.name):
                    redundant.append((index, other))
                    break
        if not redundant:
            return self._none_found(
                session,
                "duplicate_indexes",
                f"0 duplicate indexes among {len(indexes)}",
                threshold=0,
                unit="indexes",
            )
        index, other = redundant[0]
        return self.finding(
            "duplicate_indexes",
            WARN,
            f"{len(redundant)} redundant index(es), {_size(sum(i.size for i, _ in redundant))}; "
            f"{qualified(index.schema, index.name)} ({', '.join(index.columns)}) is covered by {other.name}",
            subject=qualified(index.schema, index.name),
            evidence=Evidence(
                query=session.last_query,
                observed=len(redundant),
                threshold=0,
                unit="indexes",
                table=Table(
                    columns=["redundant index", "covered by", "size", "definition"],
                    rows=[[qualified(i.schema, i.name), o.name, _size(i.size), i.definition] for i, o in redundant],
                ),
            ),
            remediation=(
                "A btree index whose columns lead another index adds write cost and serves no query the other "
                f"cannot. DROP INDEX CONCURRENTLY {qualified(index.schema, index.name)};"
            ),
            runbook=RUNBOOK_MAINTENANCE,
        )

    def cache_hit_rate(self, session: PostgresSession, window: Window) -> Finding:
        t = self.config
        totals = session.row("SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()")
        query = session.last_query
        tables = session.rows(
            """SELECT schemaname, relname, heap_blks_read, heap_blks_hit,
       COALESCE(idx_blks_read, 0) AS idx_blks_read, COALESCE(idx_blks_hit, 0) AS idx_blks_hit
FROM pg_statio_user_tables
ORDER BY heap_blks_read + COALESCE(idx_blks_read, 0) DESC
LIMIT 5"""
        )
        query += ";\n\n" + session.last_query
        threshold = {"warn": t.cache_hit_warn_percent, "crit": t.cache_hit_crit_percent}
        hit, read = (totals or {}).get("blks_hit") or 0, (totals or {}).get("blks_read") or 0
        table = Table(
            columns=["table", "heap reads", "heap hits", "index reads", "index hits"],
            rows=[
                [
                    qualified(r["schemaname"], r["relname"]),
                    r["heap_blks_read"],
                    r["heap_blks_hit"],
                    r["idx_blks_read"],
                    r["idx_blks_hit"],
                ]
                for r in tables
            ],
        )
        if hit + read < t.cache_hit_min_blocks:
            return self.no_data(
                "cache_hit_rate",
                f"Only {_n(hit + read)} blocks read since statistics were reset; too few for a hit rate",
                subject=session.database,
                evidence=Evidence(query=query, threshold=threshold, unit="%", table=table),
            )
        percent = 100.0 * hit / (hit + read)
        status = grade(percent, **threshold, lower_is_worse=True, inclusive=False)
        return self.finding(
            "cache_hit_rate",
            status,
            f"Buffer cache hit rate {_pct(percent)} ({_n(read)} of {_n(hit + read)} blocks read from disk)",
            subject=session.database,
            evidence=Evidence(query=query, observed=round(percent, 2), threshold=threshold, unit="%", table=table),
            remediation=(
                "The working set does not fit in shared_buffers. Cut the reads of the tables at the top of the table "
                "(indexes, narrower queries), or give PostgreSQL more memory / shared_buffers."
            ),
            runbook=RUNBOOK_SLOW,
        )

    def table_bloat(self, session: PostgresSession, window: Window) -> Finding:
        t = self.config
        rows = session.rows(
            """SELECT n.nspname AS schema_name, c.relname AS table_name, c.reltuples::float AS reltuples,
       c.relpages::bigint AS relpages, pg_total_relation_size(c.oid) AS total_bytes,
       pg_relation_size(c.oid) AS table_bytes, current_setting('block_size')::int AS block_size,
       COALESCE((SELECT substring(opt FROM 'fillfactor=([0-9]+)')::int
                 FROM unnest(c.reloptions) AS opt WHERE opt LIKE 'fillfactor=%%'), 100) AS fillfactor,
       (SELECT sum((1 - s.null_frac) * s.avg_width) FROM pg_stats AS s
        WHERE s.schemaname = n.nspname AND s.tablename = c.relname)::float AS data_width,
       (SELECT max(s.null_frac) FROM pg_stats AS s
        WHERE s.schemaname = n.nspname AND s.tablename = c.relname)::float AS max_null_frac,
       (SELECT count(*) FROM pg_attribute AS a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS column_count
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY pg_total_relation_size(c.oid) DESC
LIMIT %(limit)s""",
            {"limit": max(t.largest_tables, 1) * 4},
        )
        threshold = {"warn_percent": t.bloat_warn_percent, "min_bytes": t.bloat_min_bytes}
        if not rows:
            return self.ok(
                "table_bloat",
                "0 user tables",
                subject=session.database,
                evidence=Evidence(query=session.last_query, threshold=threshold, unit="%"),
            )
        estimates = [(row, estimate_bloat(row)) for row in rows]
        bloated = [
            (row, est)
            for row, est in estimates
            if est is not None and est[0] >= t.bloat_warn_percent and est[1] >= t.bloat_min_bytes
        ]
        bloated.sort(key=lambda item: -item[1][1])
        shown = estimates[: t.largest_tables] + [item for item in bloated if item not in estimates[: t.largest_tables]]
        table = Table(
            columns=["table", "total size", "table size", "estimated bloat", "bloat size"],
            rows=[
                [
                    qualified(r["schema_name"], r["table_name"]),
                    _size(r["total_bytes"]),
                    _size(r["table_bytes"]),
                    f"{est[0]:.0f} %" if est else "unknown (not analyzed)",
                    _size(est[1]) if est else "",
                ]
                for r, est in shown
            ],
        )
        largest = rows[0]
        largest_name = qualified(largest["schema_name"], largest["table_name"])
        largest_text = f"largest table {largest_name} is {_size(largest['total_bytes'])}"
        if bloated:
            row, (percent, waste) = bloated[0]
            name = qualified(row["schema_name"], row["table_name"])
            return self.finding(
                "table_bloat",
                WARN,
                f"{name} is an estimated {percent:.0f} % bloat ({_size(waste)}); {largest_text}",
                subject=name,
                evidence=Evidence(
                    query=session.last_query, observed=round(percent, 1), threshold=threshold, unit="%", table=table
                ),
                remediation=(
                    f"VACUUM makes the space reusable but does not shrink {name}. To give it back, rebuild online "
                    f"with pg_repack, or VACUUM FULL {name}; in a maintenance window (it locks the table). Then make "
                    "autovacuum keep up (see dead tuples)."
                ),
                runbook=RUNBOOK_MAINTENANCE,
            )
        worst = max((est[0] for _, est in estimates if est), default=0.0)
        return self.ok(
            "table_bloat",
            f"No table above {t.bloat_warn_percent:.0f} % estimated bloat (worst {worst:.0f} %); {largest_text}",
            subject=qualified(largest["schema_name"], largest["table_name"]),
            evidence=Evidence(
                query=session.last_query, observed=round(worst, 1), threshold=threshold, unit="%", table=table
            ),
        )

    def dead_tuples(self, session: PostgresSession, window: Window) -> Finding:
        t = self.config
        rows = session.rows(
            """SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup,
       100.0 * s.n_dead_tup / NULLIF(s.n_live_tup + s.n_dead_tup, 0) AS dead_percent,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       COALESCE(c.reloptions::text[] @> ARRAY['autovacuum_enabled=false'], false) AS autovacuum_disabled
FROM pg_stat_user_tables AS s
JOIN pg_class AS c ON c.oid = s.relid
WHERE s.n_dead_tup >= %(min)s
ORDER BY s.n_dead_tup DESC
LIMIT 10""",
            {"min": t.dead_tuples_min},
        )
        threshold = {"min_dead": t.dead_tuples_min, "warn_percent": t.dead_tuples_warn_percent}
        flagged = [r for r in rows if float(r["dead_percent"] or 0) >= t.dead_tuples_warn_percent]
        table = Table(
            columns=["table", "live", "dead", "dead %", "last autovacuum", "last vacuum", "autovacuum"],
            rows=[
                [
                    qualified(r["schemaname"], r["relname"]),
                    r["n_live_tup"],
                    r["n_dead_tup"],
                    round(float(r["dead_percent"] or 0), 1),
                    r["last_autovacuum"] or "never",
                    r["last_vacuum"] or "never",
                    "disabled" if r["autovacuum_disabled"] else "on",
                ]
                for r in rows
            ],
        )
        if not flagged:
            return self._none_found(
                session,
                "dead_tuples",
                f"0 tables with ≥ {_n(t.dead_tuples_min)} dead tuples making up ≥ "
                f"{t.dead_tuples_warn_percent:.0f} % of their rows",
                threshold=threshold,
                unit="tables",
                table=table,
            )
        first = flagged[0]
        name = qualified(first["schemaname"], first["relname"])
        last = first["last_autovacuum"]
        why = (
            "autovacuum is disabled for it (ALTER TABLE … RESET (autovacuum_enabled))"
            if first["autovacuum_disabled"]
            else "long transactions holding back the xmin horizon (see idle in transaction), or autovacuum "
            "thresholds too high for its size (autovacuum_vacuum_scale_factor)"
        )
        return self.finding(
            "dead_tuples",
            WARN,
            f"{name} has {_n(first['n_dead_tup'])} dead tuples ({float(first['dead_percent']):.0f} % of rows); "
            f"last autovacuum {last.strftime('%Y-%m-%d %H:%M UTC') if last else 'never'}",
            subject=name,
            evidence=Evidence(
                query=session.last_query,
                observed=first["n_dead_tup"],
                threshold=threshold,
                unit="dead tuples",
                table=table,
            ),
            remediation=f"VACUUM (ANALYZE) {name}; then find why autovacuum fell behind: {why}.",
            runbook=RUNBOOK_MAINTENANCE,
        )

    def xid_wraparound(self, session: PostgresSession, window: Window) -> Finding:
        t = self.config
        rows = session.rows(
            """SELECT datname, age(datfrozenxid)::bigint AS xid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
FROM pg_database
ORDER BY xid_age DESC"""
        )
        oldest = rows[0]
        age = oldest["xid_age"]
        threshold = {"warn": t.xid_age_warn, "crit": t.xid_age_crit}
        status = grade(age, **threshold)
        return self.finding(
            "xid_wraparound",
            status,
            f"Oldest transaction ID age {_n(age)} in {oldest['datname']} "
            f"({100.0 * age / XID_LIMIT:.1f} % of the {XID_LIMIT / 1e9:.1f} billion limit)",
            subject=oldest["datname"],
            evidence=Evidence(
                query=session.last_query,
                observed=age,
                threshold=threshold,
                unit="transactions",
                table=Table(
                    columns=["database", "xid age", "autovacuum_freeze_max_age"],
                    rows=[[r["datname"], r["xid_age"], r["freeze_max_age"]] for r in rows],
                ),
            ),
            remediation=(
                "PostgreSQL stops accepting writes before wraparound. VACUUM (FREEZE, VERBOSE) the oldest tables of "
                f"{oldest['datname']}; first remove what holds the horizon back: long or idle transactions, "
                "forgotten prepared transactions (pg_prepared_xacts), stale replication slots (pg_replication_slots)."
            ),
            runbook=RUNBOOK_MAINTENANCE,
        )

    def sequence_exhaustion(self, session: PostgresSession, window: Window) -> Finding:
        t = self.config
        rows = session.rows(
            """SELECT s.schemaname, s.sequencename, s.data_type::text AS data_type, s.last_value, s.max_value,
       owner.table_name, owner.column_name, owner.column_type
FROM pg_sequences AS s
LEFT JOIN LATERAL (
    SELECT tbl.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS column_type
    FROM pg_class AS seq
    JOIN pg_namespace AS sn ON sn.oid = seq.relnamespace
    JOIN pg_depend AS d ON d.objid = seq.oid AND d.classid = 'pg_class'::regclass
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class AS tbl ON tbl.oid = d.refobjid
    JOIN pg_attribute AS a ON a.attrelid = tbl.oid AND a.attnum = d.refobjsubid
    WHERE sn.nspname = s.schemaname AND seq.relname = s.sequencename
    LIMIT 1
) AS owner ON true
WHERE s.last_value IS NOT NULL AND s.increment_by > 0"""
        )
        threshold = {"warn": t.sequence_warn_percent, "crit": t.sequence_crit_percent}
        measured = []
        for r in rows:
            limit = min(int(r["max_value"]), TYPE_MAX.get(r["column_type"] or "", int(r["max_value"])))
            percent = 100.0 * int(r["last_value"]) / limit if limit > 0 else 0.0
            measured.append((percent, limit, r))
        measured.sort(key=lambda item: -item[0])
        table = Table(
            columns=["sequence", "column", "last value", "limit", "used %"],
            rows=[
                [
                    qualified(r["schemaname"], r["sequencename"]),
                    f"{qualified(r['schemaname'], r['table_name'])}.{r['column_name']} ({r['column_type']})"
                    if r["table_name"]
                    else "",
                    r["last_value"],
                    limit,
                    round(percent, 1),
                ]
                for percent, limit, r in measured[:10]
            ],
        )
        if not measured:
            return self._none_found(
                session,
                "sequence_exhaustion",
                "0 sequences in use",
                threshold=threshold,
                unit="%",
            )
        percent, limit, top = measured[0]
        status = grade(percent, **threshold)
        name = qualified(top["schemaname"], top["sequencename"])
        if top["table_name"] and top["column_type"] in ("smallint", "integer"):
            column = f"{qualified(top['schemaname'], top['table_name'])} ({quote_ident(top['column_name'])})"
            remediation = (
                f"The column {column} is {top['column_type']}: widen it with ALTER TABLE "
                f"{qualified(top['schemaname'], top['table_name'])} ALTER COLUMN {quote_ident(top['column_name'])} "
                f"TYPE bigint; (rewrites the table: plan it), then ALTER SEQUENCE {name} AS bigint;"
            )
        else:
            remediation = f"Raise the sequence's limit: ALTER SEQUENCE {name} AS bigint MAXVALUE 9223372036854775807;"
        return self.finding(
            "sequence_exhaustion",
            status,
            f"{name} is at {percent:.1f} % of its limit ({_n(top['last_value'])} of {_n(limit)})",
            subject=name,
            evidence=Evidence(
                query=session.last_query, observed=round(percent, 2), threshold=threshold, unit="%", table=table
            ),
            remediation=remediation,
            runbook=RUNBOOK_MAINTENANCE,
        )

    def prisma_migrations(self, session: PostgresSession, window: Window) -> Finding:
        location = session.row(
            """SELECT n.nspname AS schema_name
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p')
ORDER BY n.nspname = ANY(current_schemas(false)) DESC, n.nspname
LIMIT 1"""
        )
        if location is None:
            return self.no_data(
                "prisma_migrations",
                f"No _prisma_migrations table in {session.database}: not migrated by Prisma",
                subject=session.database,
                evidence=Evidence(query=session.last_query),
            )
        relation = sql.Identifier(location["schema_name"], "_prisma_migrations")
        summary_row = session.row(
            sql.SQL(
                """SELECT count(*) AS total,
       count(*) FILTER (WHERE finished_at >= %(start)s) AS in_window,
       max(finished_at) AS last_finished
FROM {relation}"""
            ).format(relation=relation),
            {"start": window.start},
        )
        pending = session.rows(
            sql.SQL(
                """SELECT migration_name, started_at, applied_steps_count, left(logs, 500) AS logs
FROM {relation}
WHERE finished_at IS NULL AND rolled_back_at IS NULL
ORDER BY started_at DESC
LIMIT 10"""
            ).format(relation=relation)
        )
        table_name = qualified(location["schema_name"], "_prisma_migrations")
        if not pending:
            last = summary_row["last_finished"]
            return self.ok(
                "prisma_migrations",
                f"0 failed or unfinished of {summary_row['total']} Prisma migrations; "
                f"{summary_row['in_window']} finished in the incident window"
                + (f", latest at {last.strftime('%Y-%m-%d %H:%M UTC')}" if last else ""),
                subject=table_name,
                evidence=Evidence(query=session.last_query, observed=0, threshold=0, unit="migrations"),
            )
        failed = [r for r in pending if r["logs"]]
        first = (failed or pending)[0]
        name = first["migration_name"]
        return self.finding(
            "prisma_migrations",
            CRIT if failed else WARN,
            (
                f"{len(failed)} failed Prisma migration(s): {name} (started "
                f"{first['started_at'].strftime('%Y-%m-%d %H:%M UTC')})"
                if failed
                else f"{len(pending)} Prisma migration(s) started but not finished: {name}"
            ),
            subject=name,
            evidence=Evidence(
                query=session.last_query,
                observed=len(pending),
                threshold=0,
                unit="migrations",
                table=Table(
                    columns=["migration", "started", "steps applied", "logs"],
                    rows=[[r["migration_name"], r["started_at"], r["applied_steps_count"], r["logs"]] for r in pending],
                ),
            ),
            remediation=(
                f"Read the logs (table) and fix the cause. If {name} did not apply, mark it rolled back and deploy "
                f"again: npx prisma migrate resolve --rolled-back {name} && npx prisma migrate deploy. If you "
                f"completed it by hand: npx prisma migrate resolve --applied {name}."
            ),
            runbook=RUNBOOK_MIGRATION,
        )

    def django_migrations(self, session: PostgresSession, window: Window) -> Finding:
        exists = session.row("SELECT to_regclass('django_migrations') IS NOT NULL AS present")
        if not exists or not exists["present"]:
            return self.no_data(
                "django_migrations",
                f"No django_migrations table on the search path of {session.database}",
                subject=session.database,
                evidence=Evidence(query=session.last_query),
            )
        recent = session.rows(
            """SELECT app, name, applied, count(*) OVER () AS in_window
FROM django_migrations WHERE applied >= %(start)s ORDER BY applied DESC LIMIT 20""",
            {"start": window.start},
        )
        total = session.row("SELECT count(*) AS total, max(applied) AS latest FROM django_migrations")
        table = Table(
            columns=["app", "migration", "applied"], rows=[[r["app"], r["name"], r["applied"]] for r in recent]
        )
        if not recent:
            latest = total["latest"]
            return self._none_found(
                session,
                "django_migrations",
                f"0 Django migrations applied in the incident window ({total['total']} in all"
                + (f", latest {latest.strftime('%Y-%m-%d %H:%M UTC')})" if latest else ")"),
                threshold=0,
                unit="migrations",
                table=table,
            )
        first = recent[0]
        return self.finding(
            "django_migrations",
            WARN,
            f"{first['in_window']} Django migration(s) applied in the incident window; latest "
            f"{first['app']}.{first['name']} at {first['applied'].strftime('%Y-%m-%d %H:%M UTC')}",
            subject=f"{first['app']}.{first['name']}",
            evidence=Evidence(
                query=session.last_query, observed=first["in_window"], threshold=0, unit="migrations", table=table
            ),
            remediation=(
                "A schema change during the incident window is a prime suspect. Compare with the deploy log; to go "
                f"back, deploy the previous release and run manage.py migrate {first['app']} <previous migration>."
            ),
            runbook=RUNBOOK_MIGRATION,
        )


def estimate_bloat(row: dict) -> tuple[float, int] | None:
    """Estimated (bloat percent, bloat bytes) of a table from its size and column statistics.

    Expected pages = live rows × (tuple header + average row width + line pointer), packed
    into pages at the table's fillfactor; whatever the table occupies beyond that is bloat.
    The same reasoning as the widely used ioguix estimate, simplified (no per-column alignment).
    None when the table has never been analyzed.
    """
    if row["data_width"] is None or row["reltuples"] is None or row["reltuples"] < 0 or not row["relpages"]:
        return None
    block = row["block_size"]
    bitmap = (row["column_count"] + 7) // 8 if (row["max_null_frac"] or 0) > 0 else 0
    header = math.ceil((23 + bitmap) / 8) * 8
    tuple_bytes = header + math.ceil(row["data_width"] / 8) * 8 + 4
    usable = (block - 24) * row["fillfactor"] / 100
    per_page = max(int(usable // tuple_bytes), 1)
    expected = math.ceil(row["reltuples"] / per_page)
    waste_pages = max(row["relpages"] - expected, 0)
    return 100.0 * waste_pages / row["relpages"], waste_pages * block
