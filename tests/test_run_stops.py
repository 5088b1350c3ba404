"""``./scripts/run`` stops everything it started when it is told to stop.

A supervisor or a closed terminal sends TERM to the script alone; Ctrl-C sends INT. Either way
the web server and the task worker must go, the port must close and the script must exit.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.app_server import free_port
from tests.test_readme_run import EMBEDDED_UNSET, ROOT, _wait_http


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory) -> Path:
    # Shared by both runs: the second one finds the database migrated and starts faster.
    return tmp_path_factory.mktemp("run-stops") / "var"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _signals_as_in_a_terminal():
    """A job started in the background by a non-interactive shell (a CI runner's, say) ignores INT and
    QUIT, and a shell cannot trap a signal ignored on entry; the script runs from a terminal, where
    they have their default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_script_stops_the_server_and_the_worker(signum, status, var_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_UNSET}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    env.update(ORION_VAR_DIR=str(var_dir), PORT=str(port))
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_signals_as_in_a_terminal,
        )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", process, log_path)
        children = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-s", str(process.pid)], capture_output=True, text=True, check=True
        ).stdout
        assert re.search(r"gunicorn", children) and re.search(r"celery .*worker", children), children

        process.send_signal(signum)  # the script only, as a supervisor does
        assert process.wait(timeout=60) == status, log_path.read_text()[-3000:]
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover = subprocess.run(
            ["ps", "-ww", "-o", "pid=,args=", "-s", str(process.pid)], capture_output=True, text=True
        )
        assert not _group_alive(process.pid), f"still running after the script exited:\n{leftover.stdout}"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        assert "stopping the web server and the task worker" in log_path.read_text()
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
