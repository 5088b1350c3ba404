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
    "exec_not_found": (
        "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc "
        'create failed: unable to start container process: exec: "gunicorn": executable file not found in $PATH'
    ),
    "missing_env": "KeyError: 'DATABASE_URL'",
    "module_not_found": "ModuleNotFoundError: No module named 'psycopg2'",
    "permission_denied": "PermissionError: [Errno 13] Permission denied: '/data/app.db'",
    "file_not_found": "FileNotFoundError: [Errno 2] No such file or directory: '/etc/orion/config.yaml'",
    "errno": "OSError: [Errno 98] Address already in use",
    "corruption_reported": "ERROR index corruption detected in segment 7 of the search index",
    "data_corruption": "2026-11-27 14:00:00.120 UTC [61] ERROR:  invalid page in block 8213 of relation base/1/16402",
    "python_traceback": "ValueError: invalid literal for int() with base 10: 'ten'",
    "java_exception": 'Exception in thread "main" java.lang.IllegalStateException: schema version 41 expected 42',
    "exit_line": "npm ERR! command sh -c node dist/main.js exited with code 1",
    "failure_phrase": "migrate: unable to apply migration 0042_add_index",
}

# Real lines from real programs, several per class: the class each one must land in.
VARIANTS = [
    ("missing_env", "Error: Missing required environment variable: STRIPE_API_KEY", "STRIPE_API_KEY"),
    ("missing_env", "error: Environment variable not found: DATABASE_URL.", "DATABASE_URL"),
    ("missing_env", 'panic: environment variable "REDIS_URL" is not set', "REDIS_URL"),
    (
        "missing_env",
        "django.core.exceptions.ImproperlyConfigured: Set the SECRET_KEY environment variable",
        "SECRET_KEY",
    ),
    ("missing_env", "JWT_SECRET is not defined", "JWT_SECRET"),
    ("module_not_found", "Error: Cannot find module '/app/dist/main.js'", "/app/dist/main.js"),
    ("module_not_found", "Caused by: java.lang.ClassNotFoundException: org.postgresql.Driver", "org.postgresql.Driver"),
    ("module_not_found", "Error: Could not find or load main class com.example.App", "com.example.App"),
    ("module_not_found", "ImportError: cannot import name 'soft_unicode' from 'markupsafe'", "soft_unicode"),
    (
        "module_not_found",
        "/usr/local/bin/app: error while loading shared libraries: libpq.so.5: cannot open shared object file",
        "libpq.so.5",
    ),
    ("exec_not_found", "exec /usr/local/bin/docker-entrypoint.sh: exec format error", ""),
    ("exec_not_found", "exec /app/server: no such file or directory", "/app/server"),
    ("exec_not_found", "/bin/sh: 1: gunicorn: not found", "gunicorn"),
    ("exec_not_found", "sh: line 1: celery: command not found", "celery"),
    ("permission_denied", "Error: EACCES: permission denied, open '/var/log/app/app.log'", ""),
    ("permission_denied", "nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)", ""),
    ("permission_denied", "mkdir: cannot create directory '/data/pgdata': Operation not permitted", ""),
    ("file_not_found", "Error: ENOENT: no such file or directory, open '/app/config/production.json'", ""),
    ("file_not_found", "open /etc/config/app.yaml: no such file or directory", ""),
    ("file_not_found", "java.nio.file.NoSuchFileException: /opt/app/application.yml", ""),
    ("dns", "wget: unable to resolve host address 'db-service'", "db-service"),
    ("dns", "wget: bad address 'mydb.orion-prod.svc.cluster.local'", "mydb.orion-prod.svc.cluster.local"),
    ("dns", "nslookup: can't resolve 'myservice'", "myservice"),
    ("dns", "** server can't find mydb.orion-prod.svc.cluster.local: NXDOMAIN", "mydb.orion-prod.svc.cluster.local"),
    (
        "dns",
        'psycopg2.OperationalError: could not translate host name "postgres" to address: Name or service not known',
        "postgres",
    ),
    ("dns", 'nginx: [emerg] host not found in upstream "backend" in /etc/nginx/conf.d/default.conf:12', "backend"),
    ("dns", "java.net.UnknownHostException: kafka-0.kafka-headless", "kafka-0.kafka-headless"),
    ("econnrefused", "wget: can't connect to remote host (10.96.14.2): Connection refused", "10.96.14.2"),
    ("errno", "Error: listen EADDRINUSE: address already in use :::3000", ""),
    ("errno", "OSError: [Errno 28] No space left on device: '/tmp/upload'", ""),
    ("errno", "write /data/wal/000001: read-only file system", ""),
    ("go_panic", "fatal error: all goroutines are asleep - deadlock!", ""),
    (
        "java_exception",
        "Caused by: org.flywaydb.core.api.FlywayException: Validate failed: Migration checksum "
        "mismatch for migration version 3",
        "",
    ),
    (
        "java_exception",
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource'",
        "",
    ),
    (
        "python_traceback",
        'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation "tasks" does not exist',
        "",
    ),
    ("data_corruption", 'PANIC:  could not write to file "pg_wal/xlogtemp.61": No space left on device', ""),
    ("data_corruption", "ERROR:  missing chunk number 0 for toast value 91723 in pg_toast_2619", ""),
    ("data_corruption", "WARNING:  page verification failed, calculated checksum 20919 but expected 15254", ""),
    ("data_corruption", "[ERROR] [MY-011906] [InnoDB] InnoDB: Database page corruption on disk or a failed read", ""),
    ("corruption_reported", "redis: Bad file format reading the append only file: corrupted data in aof", ""),
    ("exit_line", "command terminated with exit code 2", ""),
    ("exit_line", "Process exited with status 137", ""),
    ("failure_phrase", "config: cannot parse /etc/app/app.toml at line 3", ""),
    ("failure_phrase", "Waiting for postgres... could not connect", ""),
]


@pytest.mark.parametrize(("pattern_id", "line", "name"), VARIANTS)
def test_real_variants_land_in_their_class(pattern_id, line, name):
    (hit,) = logs.analyze([line]).patterns
    assert hit.pattern.id == pattern_id
    if name and pattern_id in ("dns", "econnrefused"):
        assert hit.subject == name
    elif name:
        assert hit.name == name


# Lines that look alike but say nothing is wrong: no pattern may fire and nothing counts as an error.
NEAR_MISSES = [
    "2026-11-27T14:00:00Z INFO config file /etc/app/local.yaml not found, using defaults",
    "DEBUG cache miss for user 42: key not found",
    "[INFO] DATABASE_URL is not set, falling back to SQLite",
    '10.244.0.1 - - [27/Nov/2026:14:00:00 +0000] "GET /api/tasks/99 HTTP/1.1" 404 22 "-" "kube-probe/1.30"',
    '10.244.0.1 - - [27/Nov/2026:14:00:01 +0000] "POST /login HTTP/1.1" 403 9 "access denied" "curl/8.5"',
    "worker exited with code 0",
    "Listening on 0.0.0.0:8080",
    'level=info msg="retry budget: 0 requests refused"',
    "WARN permission check skipped for health endpoint",
    "INFO ErrorReporter initialised (sentry disabled)",
    "INFO handled ValueError: bad page number, answered 400",
    "[2026-11-27 14:00:00 +0000] [1] [INFO] Booting worker 8: no config override found",
    "2026-11-27 14:00:00,123 - tasks - INFO - retry queue empty, nothing missing",
    'time=2026-11-27T14:00:00Z level=debug msg="unable to reuse connection, opening a new one"',
    "2026-11-27 14:00:00 INFO checksum scan finished: 0 corrupted pages, no data corruption found",
]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_near_misses_stay_quiet(line):
    analysis = logs.analyze([line])
    assert analysis.patterns == [] and analysis.error_lines == 0 and analysis.decisive_line == ""


def test_python_traceback_is_one_error_named_by_its_last_line():
    lines = [
        "Starting task-service",
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 5, in <module>',
        '    DATABASE_URL = os.environ["DATABASE_URL"]',
        '  File "<frozen os>", line 714, in __getitem__',
        "KeyError: 'DATABASE_URL'",
    ]
    analysis = logs.analyze(lines)
    assert analysis.error_lines == 1
    assert [h.pattern.id for h in analysis.patterns] == ["missing_env"]
    assert analysis.decisive_line == "KeyError: 'DATABASE_URL'"
    (env,) = [f for f in logs.findings_from_logs(analysis, source="p/app") if f.check == "logs.pattern.missing_env"]
    assert env.summary.startswith("A required environment variable is missing: DATABASE_URL: 1 lines")
    assert env.evidence.to_dict()["data"]["name"] == "DATABASE_URL"


def test_chained_java_exception_decides_on_the_root_cause():
    lines = [
        'Exception in thread "main" org.springframework.context.ApplicationContextException: Unable to start',
        "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:338)",
        "\t... 8 more",
        "Caused by: org.postgresql.util.PSQLException: Connection to postgres:5432 refused.",
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
    ]
    analysis = logs.analyze(lines)
    assert analysis.error_lines == 3  # the three exception lines, no frame
    assert analysis.decisive_line == "Caused by: java.net.ConnectException: Connection refused"
    refused = next(h for h in analysis.patterns if h.pattern.id == "econnrefused")
    assert refused.count == 2 and refused.subject == "postgres:5432"


def test_go_panic_frames_are_not_errors():
    lines = [
        "panic: open /etc/orion/config.yaml: no such file or directory",
        "",
        "goroutine 1 [running]:",
        "main.loadConfig({0x4b2f1e, 0x16})",
        "\t/src/main.go:42 +0x1a5",
        "main.main()",
        "\t/src/main.go:17 +0x25",
        "exit status 2",
    ]
    analysis = logs.analyze(lines)
    assert [h.pattern.id for h in analysis.patterns] == ["exit_line", "file_not_found"]
    assert analysis.error_lines == 2
    assert analysis.decisive_line == "panic: open /etc/orion/config.yaml: no such file or directory"
    assert analysis.exit_line == "exit status 2"


def test_errno_is_named_from_its_number():
    (hit,) = logs.analyze(["PermissionError: [Errno 13] Permission denied: '/data'"]).patterns
    assert hit.errno == "EACCES"
    (hit,) = logs.analyze(["Error: listen EADDRINUSE: address already in use :::3000"]).patterns
    assert hit.errno == "EADDRINUSE"


def test_level_less_tool_lines_are_grouped_as_errors():
    lines = ["wget: bad address 'db'"] * 3 + ["waiting for db", "OSError: [Errno 13] Permission denied: '/x'"]
    analysis = logs.analyze(lines)
    assert analysis.error_lines == 4
    assert analysis.groups[0].count == 3 and analysis.groups[0].signature == "wget: bad address 'db'"


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


@pytest.mark.parametrize(
    "line",
    ["KeyError: 'user_id'", "Traceback shows retry_count is not set for this job", "lookup failed: KeyError: 'id'"],
)
def test_lowercase_keys_are_not_environment_variables(line):
    assert "missing_env" not in {h.pattern.id for h in logs.analyze([line]).patterns}


@pytest.mark.parametrize(
    ("line", "quoted"),
    [
        ("2026-11-20T11:20:02.120Z ERROR Error: connect ECONNREFUSED 10.0.3.4:5432",
         "Error: connect ECONNREFUSED 10.0.3.4:5432"),
        ("[ERROR] KeyError: 'DATABASE_URL'", "KeyError: 'DATABASE_URL'"),
        ('{"level":"error","msg":"db down","err":"connect ECONNREFUSED 10.0.0.5:5432"}',
         "db down: connect ECONNREFUSED 10.0.0.5:5432"),
        ("panic: runtime error: index out of range [3] with length 3",
         "panic: runtime error: index out of range [3] with length 3"),
    ],
)  # fmt: skip
def test_decisive_line_is_quoted_without_timestamp_and_level(line, quoted):
    assert logs.analyze([line]).decisive_line == quoted
