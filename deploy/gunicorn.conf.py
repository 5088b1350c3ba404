"""Gunicorn settings for Orion Ops, all overridable through the environment.

GUNICORN_BIND          address to listen on (default 0.0.0.0:$PORT, PORT default 8000)
WEB_CONCURRENCY        number of worker processes (default 2 * CPUs + 1, at most 8)
GUNICORN_THREADS       threads per worker (default 1)
GUNICORN_TIMEOUT       seconds before a silent worker is killed (default 30)
GUNICORN_GRACEFUL_TIMEOUT  seconds a worker gets to finish on restart (default 30)
GUNICORN_KEEPALIVE     seconds to hold an idle keep-alive connection (default 5)
GUNICORN_MAX_REQUESTS  recycle a worker after this many requests (default 0: never)
GUNICORN_LOG_LEVEL     error log level (default info)
LOG_FORMAT             plain (default) or json: gunicorn's own lines (access and
                       error log) take the same format as the app's, secrets
                       redacted (orion_ops.logs)
PROMETHEUS_MULTIPROC_DIR  when set, metrics are shared by all workers through files
                       in this directory (see the hooks at the bottom).
"""

import os
from pathlib import Path

MAX_DEFAULT_WORKERS = 8


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _available_cpus() -> int:
    # sched_getaffinity honours the container's cpuset; cpu_count() does not.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _default_workers() -> int:
    return min(2 * _available_cpus() + 1, MAX_DEFAULT_WORKERS)


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_env_int('PORT', 8000)}"
workers = _env_int("WEB_CONCURRENCY", 0) or _default_workers()
threads = _env_int("GUNICORN_THREADS", 1) or 1

timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)

max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10

# Heartbeat files on tmpfs: a slow overlay filesystem would make healthy
# workers look stuck.
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108 (tmpfs, gunicorn heartbeat files)

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _logconfig(log_format: str) -> dict:
    """gunicorn.error and gunicorn.access through the app's formatter and redaction filter."""
    formatter = (
        {"()": "orion_ops.logs.JsonFormatter"}
        if log_format == "json"
        else {"()": "orion_ops.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "orion", "filters": ["redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "orion_ops.logs.RedactSecrets"}},
        "formatters": {"orion": formatter},
        "handlers": {
            "error_console": {**handler, "stream": "ext://sys.stderr"},
            "access_console": {**handler, "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
        },
    }


logconfig_dict = _logconfig(os.environ.get("LOG_FORMAT", "plain").strip().lower())


def _prometheus_multiproc_dir() -> Path | None:
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(raw) if raw else None


def on_starting(server):
    """Start every master with an empty metrics directory.

    Files left by a previous run belong to processes that no longer exist; kept,
    they would be added to the new run's counters.
    """
    metrics_dir = _prometheus_multiproc_dir()
    if metrics_dir is None:
        return
    metrics_dir.mkdir(parents=True, exist_ok=True)
    stale = list(metrics_dir.glob("*.db"))
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        server.log.info("Removed %d stale metrics files from %s", len(stale), metrics_dir)


def child_exit(server, worker):
    """Let prometheus_client drop a dead worker's live gauges."""
    if _prometheus_multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
