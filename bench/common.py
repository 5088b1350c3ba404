"""What the benchmark scripts share: a database of their own, the environment Orion Ops runs in for a
benchmark, a server to wait for, and where the results go.

The scripts run as ``python bench/<name>.py``, so this module is imported as ``common``; importing it
puts the project's root on ``sys.path`` (for ``orion_ops``, ``incidents`` and ``bench.*`` settings).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
RESULTS = ROOT / "bench" / "results"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def database_fresh(name: str) -> None:
    """Drop ``name`` and create it empty. Only a database named ``orion_bench…`` is ever touched."""
    if not name.startswith("orion_bench"):
        raise SystemExit("--database must start with orion_bench (it is dropped and created again)")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def orion_env(database: str, *, redis_db: int = 15, redis_cache: bool = False, **extra: str) -> dict[str, str]:
    """Settings for Orion Ops on ``database``: a bench-only secret key, quiet logs, the Celery broker on
    Redis database ``redis_db`` (with ``redis_cache``, the cache too), and a var directory named after the
    database; ``extra`` adds or overrides."""
    redis = f"redis://127.0.0.1:6379/{redis_db}"
    return {
        "DATABASE_URL": f"{PG}/{database}",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnop",
        "CELERY_BROKER_URL": redis,
        **({"REDIS_URL": redis} if redis_cache else {}),
        "ORION_VAR_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / database.replace("_", "-")),  # noqa: S108
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def django_start(database: str, **extra: str) -> None:
    """Start Django in this process on ``database`` (see ``orion_env``; ``DJANGO_SETTINGS_MODULE`` may be given)."""
    os.environ.update(orion_env(database, **{"DJANGO_SETTINGS_MODULE": "orion_ops.settings", **extra}))
    import django

    django.setup()


def server_wait(base: str, seconds: float = 30.0) -> None:
    """Wait until the server at ``base`` answers ``/healthz``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise SystemExit(f"{base} did not answer within {seconds:.0f} s") from None
            time.sleep(0.2)


def process_stop(process: subprocess.Popen, seconds: float = 15.0) -> None:
    """Ask a server to stop (SIGTERM); kill it if it is still running after ``seconds``."""
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()


def results_write(name: str, summary: dict, lines: list[str] | None = None) -> None:
    """Keep the figures in ``bench/results/`` (``<name>.txt`` from ``lines``, else ``<name>.json``) and print
    the summary as the final JSON line."""
    RESULTS.mkdir(exist_ok=True)
    if lines is None:
        (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    else:
        (RESULTS / f"{name}.txt").write_text("\n".join(lines) + "\n")
    print(json.dumps(summary))


WRK_LATENCY_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("ORION %d %d %d %d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95)))
end
"""


def process_children(pid: int) -> list[int]:
    """The pids of a process's children (a gunicorn master's workers, a Celery worker's pool)."""
    return sorted(map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split()))


def wrk_run(script: str, url: str, *options: str) -> str:
    """Run wrk (a C load generator: it takes little of the CPU being measured) with a Lua ``script``; its output."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"orion-wrk-{os.getpid()}-{time.monotonic_ns()}.lua"  # noqa: S108
    path.write_text(script)
    try:
        return subprocess.run(
            ["wrk", *options, "-s", str(path), url], check=True, capture_output=True, text=True
        ).stdout
    finally:
        path.unlink(missing_ok=True)


def wrk_latency(url: str, *, seconds: int, headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    """p50 and p95 in ms, and the number of requests, of ``url`` asked by wrk over one connection for
    ``seconds``. Any non-2xx answer or error stops."""
    options = ["-t", "1", "-c", "1", "-d", f"{seconds}s"]
    for name, value in (headers or {}).items():
        options += ["-H", f"{name}: {value}"]
    out = wrk_run(WRK_LATENCY_SCRIPT, url, *options)
    fields = next(line for line in out.splitlines() if line.startswith("ORION ")).split()
    count, errors, p50_us, p95_us = map(int, fields[1:])
    if errors or "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors asking {url}:\n{out}")
    return p50_us / 1000, p95_us / 1000, count
