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
