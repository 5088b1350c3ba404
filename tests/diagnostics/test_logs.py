"""The log analyzer: a corpus of realistic lines for every pattern, normalisation, ordering."""

import pytest

from diagnostics.collectors import logs

CORPUS = {
    "econnrefused": "2026-11-27T14:00:01.120Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
    "etimedout": (
        "2026-11-27T14:00:02Z WARN request to http://billing.orion-prod.svc:8080/charge failed, "
        "reason: connect ETIMEDOUT 10.0.9.12:8080"
    ),
    "dns": "Error: getaddrinfo ENOTFOUND postgres.orion-prod.svc.cluster.local",
    "ehostunreach": "ERROR connect EHOSTUNREACH 10.244.1.17:6379",
    "sequelize_pool_timeout": "ERROR SequelizeConnectionAcquireTimeoutError: Operation timeout",
    "sequelize_connection": "ERROR SequelizeConnectionRefusedError: connect ECONNREFUSED 127.0.0.1:5432",
    "prisma_p1001": "PrismaClientInitializationError: P1001: Can't reach database server at `postgres:5432`",
    "prisma_p1002": "Error: P1002: The database server at `postgres:5432` was reached but timed out.",
    "prisma_p1017": "Error: P1017: Server has closed the connection.",
    "prisma_p2024": (
        "ERROR P2024: Timed out fetching a new connection from the connection pool. "
        "(Current connection pool timeout: 10, connection limit: 10)"
    ),
    "python_pool_timeout": "psycopg_pool.PoolTimeout: couldn't get a connection after 30.00 sec",
    "too_many_clients": "FATAL:  sorry, too many clients already",
    "python_operational_error": "django.db.utils.OperationalError: server closed the connection unexpectedly",
    "java_oom": 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
    "node_heap_oom": "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    "go_panic": "panic: runtime error: invalid memory address or nil pointer dereference",
    "oom_killed": "Last State: Terminated Reason: OOMKilled Exit Code: 137",
}


@pytest.mark.parametrize(("pattern_id", "line"), CORPUS.items())
def test_every_pattern_is_recognised(pattern_id, line):
    analysis = logs.analyze([line])
    assert [hit.pattern.id for hit in analysis.patterns] == [pattern_id]


def test_patterns_are_one_table_with_meaning_and_remedy():
    ids = [p.id for p in logs.PATTERNS]
    assert len(ids) == len(set(ids))
    assert set(CORPUS) == set(ids)
    assert all(p.meaning and p.remedy and p.title for p in logs.PATTERNS)


@pytest.mark.parametrize(
    ("line", "subject"),
    [
        (CORPUS["econnrefused"], "10.0.3.4:5432"),
        (CORPUS["ehostunreach"], "10.244.1.17:6379"),
        (CORPUS["dns"], "postgres.orion-prod.svc.cluster.local"),
        ("Error: connect ECONNREFUSED redis.orion-prod.svc:6379", "redis.orion-prod.svc:6379"),
    ],
)
def test_host_port_is_kept_as_subject(line, subject):
    (hit,) = logs.analyze([line]).patterns
    assert hit.subject == subject


@pytest.mark.parametrize(
    ("message", "normalized"),
    [
        ("Task 123 failed after 4.5 s", "Task <num> failed after <num> s"),
        ("user 9f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c not found", "user <uuid> not found"),
        ("upstream 10.0.3.4:5432 refused", "upstream <ip> refused"),
        ("object 0x7ffe12ab freed twice", "object <hex> freed twice"),
        ("commit deadbeefcafe1234 missing", "commit <hex> missing"),
        ("at 2026-11-27T14:00:01.5Z retry", "at <ts> retry"),
        ("pod task-service-7d9f4c8b9 crashed", "pod task-service-<hex> crashed"),
        ("pod task-service-abc12 restarted", "pod task-service-<id> restarted"),
    ],
)
def test_normalisation_masks_variable_parts(message, normalized):
    assert logs.normalize(message) == normalized


def test_groups_are_ordered_by_count_with_first_and_last_seen():
    lines = [
        "2026-11-27T14:00:00Z ERROR Timeout calling payments after 3000 ms",
        "2026-11-27T14:00:05Z ERROR Validation failed for task 17",
        "2026-11-27T14:00:07Z ERROR Timeout calling payments after 3012 ms",
        "2026-11-27T14:00:09Z INFO request served in 12 ms",
        "2026-11-27T14:00:11Z ERROR Timeout calling payments after 2999 ms",
        "2026-11-27T14:00:12Z ERROR Validation failed for task 18",
        "2026-11-27T14:00:13Z ERROR Auth token expired",
    ]
    analysis = logs.analyze(lines)
    assert analysis.lines == 7 and analysis.error_lines == 6
    assert [(g.count, g.signature) for g in analysis.groups] == [
        (3, "Timeout calling payments after <num> ms"),
        (2, "Validation failed for task <num>"),
        (1, "Auth token expired"),
    ]
    top = analysis.groups[0]
    assert top.first_seen.isoformat() == "2026-11-27T14:00:00+00:00"
    assert top.last_seen.isoformat() == "2026-11-27T14:00:11+00:00"


def test_json_lines_and_logfmt():
    lines = [
        '{"level":"error","time":"2026-11-27T14:00:00Z","msg":"db query failed",'
        '"err":"connect ECONNREFUSED 10.0.0.5:5432"}',
        '{"level":50,"time":"2026-11-27T14:00:01Z","msg":"db query failed","err":"connect ECONNREFUSED 10.0.0.5:5432"}',
        'time=2026-11-27T14:00:02Z level=error msg="cache miss storm" count=9000',
        '{"level":"info","msg":"ok"}',
    ]
    analysis = logs.analyze(lines)
    assert analysis.error_lines == 3
    assert analysis.groups[0].count == 2
    assert analysis.patterns[0].pattern.id == "econnrefused" and analysis.patterns[0].count == 2


def test_findings_carry_table_runbook_and_subject():
    lines = [CORPUS["prisma_p2024"]] * 3 + [CORPUS["econnrefused"]]
    findings = logs.findings_from_logs(logs.analyze(lines), source="task-service-7d9f4c8b9-abc12/app")
    by_check = {f.check: f for f in findings}
    pool = by_check["logs.pattern.prisma_p2024"]
    assert pool.status == "crit" and pool.runbook == "db-connection-pool-exhausted"
    assert pool.summary.startswith("Prisma P2024: connection pool timeout: 3 lines")
    refused = by_check["logs.pattern.econnrefused"]
    assert refused.subject == "10.0.3.4:5432"
    groups = by_check["logs.error_groups"]
    assert groups.evidence.observed == 4 and groups.evidence.table.rows[0][0] == 3
    assert groups.to_dict()["evidence"]["table"]["columns"] == ["count", "message", "first seen", "last seen"]


def test_clean_logs_give_an_ok_finding():
    findings = logs.findings_from_logs(logs.analyze(["INFO started", "INFO listening on :3000"]), source="pod/app")
    assert [(f.check, f.status) for f in findings] == [("logs.error_groups", "ok")]
