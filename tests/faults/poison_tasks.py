"""Tasks loaded only into the fault suite's workers (``--include tests.faults.poison_tasks``)."""

import os
import signal
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.faults.kill_my_worker", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def kill_my_worker(tally: str) -> None:
    """Kills the pool process running it, every time: a poison message. Each delivery leaves a line in ``tally``."""
    with Path(tally).open("a") as out:
        out.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name="tests.faults.mark_done", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def mark_done(tally: str) -> None:
    """A healthy task: proves the queue moves past the poison message."""
    with Path(tally).open("a") as out:
        out.write("done\n")
