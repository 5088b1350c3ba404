"""The PostgreSQL collector against a real scratch cluster, each condition induced for real.

The collector is called as the engine calls it: its thresholds in a
``PostgresConfig`` and the DSN as a secret, with no setting or environment
variable in between.
"""

import datetime as dt
import os
import time

import psycopg
import pytest

from diagnostics.collectors.base import CollectorError, ConfigurationError, TargetSpec, Window
from diagnostics.collectors.postgres import PostgresCollector, PostgresConfig
from tests.conftest import wait_for
from tests.diagnostics.conftest import WRONG_PASSWORD

NOW = dt.datetime.now(dt.UTC)
WINDOW = Window(start=NOW - dt.timedelta(minutes=15), now=NOW + dt.timedelta(hours=1))
TARGET = TargetSpec(kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_TASK_DB_DSN"})


def collect(dsn: str, *, config: dict | None = None, statement_timeout_ms: int = 5000, **thresholds):
    collector = PostgresCollector(
        config=PostgresConfig(connect_timeout=3, statement_timeout_ms=statement_timeout_ms, **thresholds)
    )
    target = TargetSpec(kind="postgres", name="task-db", config={**TARGET.config, **(config or {})})
    return collector.collect(target, WINDOW, secrets={"dsn": dsn})


def by_check(findings, name: str):
    matches = [f for f in findings if f.check == f"postgres.{name}"]
    assert matches, f"no postgres.{name} finding"
    return matches


def one(findings, name: str):
    (finding,) = by_check(findings, name)
    return finding


def monitor_dsn(scratch_pg, database="appdb"):
    return scratch_pg.dsn(database, "orion_monitor")


def wait_for_session(scratch_pg, pid: int, condition: str, message: str) -> None:
    """Poll pg_stat_activity until the session ``pid`` is in the state ``condition`` (SQL over its row) says."""
    with scratch_pg.connect("postgres") as admin:

        def reached() -> bool:
            row = admin.execute(f"SELECT {condition} FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            return bool(row and row[0])

        wait_for(reached, timeout=15, message=message)


def test_every_check_reports_on_a_quiet_database(scratch_pg):
    findings = collect(monitor_dsn(scratch_pg, "plaindb"))
    checks = [f.check for f in findings]
    assert checks == [f"postgres.{name}" for name in PostgresCollector.checks]
    assert not [f for f in findings if f.status == "error"], [f.summary for f in findings if f.status == "error"]
    for finding in findings:
        data = finding.to_dict()
        assert set(data) == {"check", "status", "summary", "subject", "evidence", "remediation", "runbook"}
        assert {"query", "observed", "threshold", "unit"} <= set(data["evidence"])
    assert one(findings, "slow_queries").status == "no_data"
    assert "pg_stat_statements is not installed" in one(findings, "slow_queries").summary
    assert one(findings, "prisma_migrations").status == "no_data"
    xid = one(findings, "xid_wraparound")
    assert xid.status == "ok" and 0 < xid.evidence.observed < 10_000_000


@pytest.mark.parametrize(("held", "status"), [(13, "warn"), (15, "crit")])
def test_connection_saturation_counts_holders_against_usable_slots(scratch_pg, held_sessions, held, status):
    for _ in range(held):
        held_sessions.open(application_name="load-generator")
    finding = one(collect(monitor_dsn(scratch_pg), config={"pool_size_per_pod": 5}), "connection_saturation")
    assert finding.status == status
    # max_connections 20 minus 3 superuser slots = 17 usable; the collector's own session counts too.
    usage = finding.evidence.range
    assert usage["usable"] == 17 and usage["max_connections"] == 20
    assert usage["in_use"] >= held + 1
    assert f"{usage['in_use']} of 17 usable connections in use" in finding.summary
    assert finding.evidence.observed == round(100 * usage["in_use"] / 17, 1)
    top = finding.evidence.table.rows[0]
    assert top[:3] == ["load-generator", "postgres", "idle"] and top[3] == held
    assert finding.runbook == "db-connection-pool-exhausted"
    assert "at most 3 pods fit" in finding.remediation


def test_refused_connection_when_full_is_itself_a_critical_finding(scratch_pg, held_sessions):
    with pytest.raises(psycopg.OperationalError):
        for _ in range(25):
            held_sessions.open(user="orion_app", application_name="leaky-pool")
    findings = collect(monitor_dsn(scratch_pg))
    saturation = one(findings, "connection_saturation")
    assert saturation.status == "crit"
    assert "refused a new connection" in saturation.summary
    assert saturation.runbook == "db-connection-pool-exhausted"
    assert {f.status for f in findings if f is not saturation} == {"error"}
    assert len(findings) == len(PostgresCollector.checks)


def test_idle_in_transaction_reports_count_and_oldest(scratch_pg, held_sessions):
    idle = held_sessions.open(application_name="forgot-to-commit", autocommit=False)
    idle.execute("SELECT 1")  # opens the transaction, then the session waits
    wait_for_session(
        scratch_pg,
        idle.info.backend_pid,
        "state = 'idle in transaction' AND now() - state_change >= interval '1 second'",
        "the session to be idle in transaction for a second",
    )
    finding = one(
        collect(monitor_dsn(scratch_pg), idle_in_transaction_warn_seconds=1, idle_in_transaction_crit_seconds=600),
        "idle_in_transaction",
    )
    assert finding.status == "warn"
    assert finding.summary.startswith("1 session(s) idle in transaction")
    assert f"pid {idle.info.backend_pid}" in finding.subject and "forgot-to-commit" in finding.subject
    assert finding.evidence.observed >= 1.0
    assert f"pg_terminate_backend({idle.info.backend_pid})" in finding.remediation


def test_long_running_query_excludes_nothing_it_should_see(scratch_pg, held_sessions):
    sleeper = held_sessions.open(application_name="report-job")
    held_sessions.run_in_background(sleeper, "SELECT pg_sleep(30)")
    wait_for_session(
        scratch_pg,
        sleeper.info.backend_pid,
        "state = 'active' AND now() - query_start > interval '2 seconds'",
        "the query to run for more than 2 seconds",
    )
    finding = one(
        collect(monitor_dsn(scratch_pg), long_query_warn_seconds=2, long_query_crit_seconds=300),
        "long_running_queries",
    )
    assert finding.status == "warn"
    assert f"pid {sleeper.info.backend_pid}" in finding.subject
    assert finding.evidence.observed >= 2.0
    row = finding.evidence.table.rows[0]
    assert row[0] == sleeper.info.backend_pid and "pg_sleep(30)" in row[-1]
    assert finding.runbook == "slow-queries"


def test_quiet_database_has_no_long_running_query(scratch_pg):
    finding = one(collect(monitor_dsn(scratch_pg), long_query_warn_seconds=2), "long_running_queries")
    assert finding.status == "ok"
    assert finding.summary == "0 queries running longer than 2 s"


def test_lock_wait_names_blocked_and_blocking_pid(scratch_pg, held_sessions):
    scratch_pg.execute("DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
    scratch_pg.execute("INSERT INTO accounts VALUES (1, 100)")
    holder = held_sessions.open(application_name="migration", autocommit=False)
    holder.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    waiter = held_sessions.open(application_name="checkout")
    held_sessions.run_in_background(waiter, "UPDATE accounts SET balance = balance - 1 WHERE id = 1")
    wait_for_session(scratch_pg, waiter.info.backend_pid, "wait_event_type = 'Lock'", "the update to wait for the lock")
    try:
        finding = one(collect(monitor_dsn(scratch_pg), lock_wait_crit_seconds=30), "blocked_queries")
    finally:
        holder.rollback()
    assert finding.status == "warn"
    assert finding.subject == f"pid {waiter.info.backend_pid} blocked by pid {holder.info.backend_pid}"
    row = finding.evidence.table.rows[0]
    columns = finding.evidence.table.columns
    assert row[columns.index("lock mode")] == "RowExclusiveLock"
    assert row[columns.index("relation")] == "accounts"
    assert row[columns.index("blocking state")] == "idle in transaction"
    assert f"pg_terminate_backend({holder.info.backend_pid})" in finding.remediation


def test_slow_statements_from_pg_stat_statements(scratch_pg):
    with scratch_pg.connect("appdb", application_name="api") as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(105):
            conn.execute("SELECT pg_sleep(0.021)")
    finding = one(collect(monitor_dsn(scratch_pg)), "slow_queries")
    assert finding.status == "warn"
    row = finding.evidence.table.rows[0]
    columns = finding.evidence.table.columns
    assert row[columns.index("calls")] >= 105
    assert row[columns.index("mean ms")] >= 20
    assert "pg_sleep" in row[columns.index("query")]
    assert f"over {row[columns.index('calls')]} calls" in finding.summary
    assert finding.subject == f"queryid {row[0]}"


def test_missing_index_candidate_uses_pg_stats_fraction(scratch_pg):
    scratch_pg.execute(
        """DROP TABLE IF EXISTS orders;
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL);
        INSERT INTO orders SELECT i, i % 10000, (ARRAY['new','paid','shipped'])[1 + i % 3]
            FROM generate_series(1, 20000) AS i;
        ANALYZE orders;"""
    )
    with scratch_pg.connect("appdb") as conn:
        for customer in range(12):
            conn.execute("SELECT count(*) FROM orders WHERE customer_id = %s", [customer])
    scratch_pg.wait_for_stats("SELECT seq_scan >= 12 FROM pg_stat_user_tables WHERE relname = 'orders'")
    findings = by_check(collect(monitor_dsn(scratch_pg)), "missing_indexes")
    (finding,) = [f for f in findings if f.subject == "public.orders"]
    assert finding.status == "warn"
    assert "indexes served 0 % of scans (20,000 rows)" in finding.summary
    column, n_distinct, estimate, null_frac = finding.evidence.table.rows[0]
    # 10,000 distinct values in 20,000 rows: pg_stats stores -0.5 (a fraction of the rows).
    assert column == "customer_id" and n_distinct < 0 and 9000 <= estimate <= 11000
    assert "status" not in [row[0] for row in finding.evidence.table.rows]  # 3 values: not selective
    assert "CREATE INDEX CONCURRENTLY ON public.orders (customer_id);" in finding.remediation


def test_unused_and_duplicate_indexes(scratch_pg):
    scratch_pg.execute(
        """DROP TABLE IF EXISTS events;
        CREATE TABLE events (id bigint PRIMARY KEY, kind text, created_at timestamptz);
        INSERT INTO events SELECT i, 'k' || (i % 50), now() FROM generate_series(1, 5000) AS i;
        CREATE INDEX events_kind_idx ON events (kind);
        CREATE INDEX events_kind_created_idx ON events (kind, created_at);"""
    )
    findings = collect(monitor_dsn(scratch_pg), unused_index_min_bytes=0)
    duplicate = one(findings, "duplicate_indexes")
    assert duplicate.status == "warn"
    assert duplicate.subject == "public.events_kind_idx"
    assert "covered by events_kind_created_idx" in duplicate.summary
    assert "DROP INDEX CONCURRENTLY public.events_kind_idx;" in duplicate.remediation
    unused = one(findings, "unused_indexes")
    assert unused.status == "warn"
    names = [row[0] for row in unused.evidence.table.rows]
    assert {"public.events_kind_idx", "public.events_kind_created_idx"} <= set(names)
    assert "public.events_pkey" not in names  # backs a constraint


def test_cache_hit_rate_drops_when_reads_come_from_disk(scratch_pg):
    scratch_pg.execute(
        """CREATE TABLE IF NOT EXISTS big (id bigint, payload text);
        TRUNCATE big;
        INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 250000) AS i;""",
        database="cachedb",
    )
    with scratch_pg.connect("cachedb") as conn:
        conn.execute("SELECT pg_stat_reset()")
        for _ in range(3):  # bigger than shared_buffers (16 MB): each scan reads through a small ring
            conn.execute("SELECT count(*) FROM big")
    scratch_pg.wait_for_stats(
        "SELECT blks_read > 5000 FROM pg_stat_database WHERE datname = current_database()", database="cachedb"
    )
    finding = one(collect(monitor_dsn(scratch_pg, "cachedb")), "cache_hit_rate")
    assert finding.status == "crit"
    assert finding.evidence.observed < 90
    assert finding.summary.startswith(f"Buffer cache hit rate {finding.evidence.observed:.1f} %")
    assert finding.evidence.table.rows[0][0] == "public.big"


def test_dead_tuples_and_bloat_after_a_mass_delete(scratch_pg):
    scratch_pg.execute(
        """DROP TABLE IF EXISTS churn;
        CREATE TABLE churn (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false);
        INSERT INTO churn SELECT i, md5(i::text) FROM generate_series(1, 40000) AS i;
        DELETE FROM churn WHERE id > 10000;
        ANALYZE churn;"""
    )
    scratch_pg.wait_for_stats("SELECT n_dead_tup >= 25000 FROM pg_stat_user_tables WHERE relname = 'churn'")
    findings = collect(monitor_dsn(scratch_pg), bloat_min_bytes=0)
    dead = one(findings, "dead_tuples")
    assert dead.status == "warn"
    assert dead.subject == "public.churn"
    assert dead.evidence.observed >= 25000
    assert "last autovacuum never" in dead.summary
    assert "VACUUM (ANALYZE) public.churn;" in dead.remediation
    assert "autovacuum is disabled" in dead.remediation
    bloat = one(findings, "table_bloat")
    assert bloat.status == "warn" and bloat.subject == "public.churn"
    assert 60 <= bloat.evidence.observed <= 85  # 30,000 of 40,000 rows deleted


def test_sequences_near_their_limit(scratch_pg):
    scratch_pg.execute(
        """DROP SEQUENCE IF EXISTS ticket_numbers; DROP TABLE IF EXISTS legacy;
        CREATE SEQUENCE ticket_numbers MAXVALUE 100;
        SELECT setval('ticket_numbers', 95);
        CREATE TABLE legacy (id serial PRIMARY KEY);
        SELECT setval('legacy_id_seq', 1717986918);"""
    )
    finding = one(collect(monitor_dsn(scratch_pg)), "sequence_exhaustion")
    assert finding.status == "crit"
    assert finding.subject == "public.ticket_numbers"
    assert "95.0 % of its limit (95 of 100)" in finding.summary
    legacy = next(row for row in finding.evidence.table.rows if row[0] == "public.legacy_id_seq")
    assert legacy[1] == "public.legacy.id (integer)" and legacy[4] == 80.0
    scratch_pg.execute("DROP SEQUENCE ticket_numbers")
    finding = one(collect(monitor_dsn(scratch_pg)), "sequence_exhaustion")
    assert finding.status == "warn" and finding.subject == "public.legacy_id_seq"
    assert "ALTER COLUMN id TYPE bigint" in finding.remediation


PRISMA_TABLE = """CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)"""


def test_failed_prisma_migration_points_at_migrate_resolve(scratch_pg):
    scratch_pg.execute(f"DROP TABLE IF EXISTS _prisma_migrations; {PRISMA_TABLE}")
    scratch_pg.execute(
        """INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
        VALUES ('1', 'a', now() - interval '2 days', '20250101000000_init', 1);
        INSERT INTO _prisma_migrations (id, checksum, migration_name, logs)
        VALUES ('2', 'b', '20251128090000_add_due_date', 'Database error: column "due_date" already exists');"""
    )
    finding = one(collect(monitor_dsn(scratch_pg)), "prisma_migrations")
    assert finding.status == "crit"
    assert finding.subject == "20251128090000_add_due_date"
    assert finding.summary.startswith("1 failed Prisma migration(s): 20251128090000_add_due_date")
    assert "npx prisma migrate resolve --rolled-back 20251128090000_add_due_date" in finding.remediation
    assert "npx prisma migrate resolve --applied 20251128090000_add_due_date" in finding.remediation
    assert finding.runbook == "db-migration-failure"
    assert 'column "due_date" already exists' in finding.evidence.table.rows[0][3]
    scratch_pg.execute("UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = '2'")
    finding = one(collect(monitor_dsn(scratch_pg)), "prisma_migrations")
    assert finding.status == "ok"
    assert finding.summary.startswith("0 failed or unfinished of 2 Prisma migrations")


def test_django_migrations_only_when_asked(scratch_pg):
    scratch_pg.execute(
        """DROP TABLE IF EXISTS django_migrations;
        CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255),
                                        applied timestamptz);
        INSERT INTO django_migrations (app, name, applied) VALUES
            ('tasks', '0001_initial', now() - interval '30 days'), ('tasks', '0002_due_date', now());"""
    )
    assert not [f for f in collect(monitor_dsn(scratch_pg)) if f.check == "postgres.django_migrations"]
    finding = one(collect(monitor_dsn(scratch_pg), config={"django_migrations": True}), "django_migrations")
    assert finding.status == "warn"
    assert finding.subject == "tasks.0002_due_date"
    assert finding.summary.startswith("1 Django migration(s) applied in the incident window")


def test_permission_denied_fails_one_check_only(scratch_pg):
    scratch_pg.execute(f"DROP TABLE IF EXISTS _prisma_migrations; {PRISMA_TABLE}")
    scratch_pg.execute("REVOKE ALL ON _prisma_migrations FROM orion_limited")
    findings = collect(scratch_pg.dsn("appdb", "orion_limited"))
    prisma = one(findings, "prisma_migrations")
    assert prisma.status == "error"
    assert "permission denied for table _prisma_migrations" in prisma.summary
    assert "_prisma_migrations" in prisma.evidence.query
    assert one(findings, "connection_saturation").status in ("ok", "warn", "crit")
    assert len(findings) == len(PostgresCollector.checks)


def test_statement_timeout_fails_one_check_only(scratch_pg, held_sessions):
    scratch_pg.execute(f"DROP TABLE IF EXISTS _prisma_migrations; {PRISMA_TABLE}")
    holder = held_sessions.open(application_name="slow-migration", autocommit=False)
    holder.execute("LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE")
    started = time.monotonic()
    try:
        findings = collect(monitor_dsn(scratch_pg), statement_timeout_ms=500)
    finally:
        holder.rollback()
    assert time.monotonic() - started < 5
    prisma = one(findings, "prisma_migrations")
    assert prisma.status == "error" and "timeout" in prisma.summary
    # Checks that size the locked table wait for the lock too, and time out alone; the others run.
    errors = [f for f in findings if f.status == "error"]
    assert all("timeout" in f.summary for f in errors)
    assert len(findings) == len(PostgresCollector.checks) and len(errors) <= 4
    assert one(findings, "connection_saturation").status == "ok"


def test_sessions_are_read_only(scratch_pg):
    collector = PostgresCollector(config=PostgresConfig(connect_timeout=3, statement_timeout_ms=1000))
    secrets = {"dsn": monitor_dsn(scratch_pg)}
    with collector.open(TARGET, WINDOW, secrets) as session, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        session.rows("CREATE TABLE should_not_exist (id int)")
    assert session.connection.closed


def test_unreachable_server_is_a_transient_error(scratch_pg):
    with pytest.raises(CollectorError) as caught:
        collect(os.environ["ORION_TARGET_TEST_PG_REFUSED_DSN"])
    assert not caught.value.permanent
    assert "could not connect" in caught.value.message and "refused" in caught.value.message


def test_wrong_password_is_permanent_and_never_echoed(scratch_pg):
    with pytest.raises(CollectorError) as caught:
        collect(scratch_pg.dsn("appdb", "orion_pw", WRONG_PASSWORD))
    assert caught.value.permanent
    assert "password authentication failed" in caught.value.message
    assert WRONG_PASSWORD not in caught.value.message


def test_missing_or_malformed_dsn_is_a_configuration_error_without_the_value():
    with pytest.raises(ConfigurationError, match="postgres target task-db: no DSN"):
        PostgresCollector().collect(TARGET, WINDOW)
    with pytest.raises(ConfigurationError) as caught:
        PostgresCollector().collect(TARGET, WINDOW, secrets={"dsn": "host=db password=hunter2 garbage"})
    assert "hunter2" not in caught.value.message
    assert caught.value.message == "the value of ORION_TARGET_TASK_DB_DSN is not a valid PostgreSQL connection string"


def test_timeouts_come_from_the_configuration_passed_in(scratch_pg):
    collector = PostgresCollector(config=PostgresConfig(connect_timeout=2, statement_timeout_ms=1234))
    with collector.open(TARGET, WINDOW, {"dsn": monitor_dsn(scratch_pg)}) as session:
        timeouts = session.row("SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l")
    assert timeouts == {"s": "1234ms", "l": "1234ms"}
