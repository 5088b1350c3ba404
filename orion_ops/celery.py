import logging
import os

from celery import Celery, Task, signals
from celery.exceptions import Reject

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orion_ops.settings")

logger = logging.getLogger(__name__)


class BoundedRedeliveryTask(Task):
    """A late-acknowledged task is redelivered when its worker dies; this bounds how often.

    A message that kills its worker every time (a crash in a C library, memory
    exhaustion) would otherwise be redelivered for ever and starve the queue.
    Each delivery is counted in the cache (Redis) before the task runs; past
    ``CELERY_MAX_REDELIVERIES`` the task is not run again: ``redeliveries_exhausted``
    records the failure and the message is rejected, so the queue drains.
    """

    def __call__(self, *args, **kwargs):
        if self.request.called_directly or self.request.is_eager or not (self.acks_late and self.reject_on_worker_lost):
            return super().__call__(*args, **kwargs)
        deliveries = self._count_delivery()
        limit = _max_redeliveries()
        if deliveries is not None and deliveries > limit + 1:
            logger.error(
                "task %s[%s] lost its worker %s times; giving up on it", self.name, self.request.id, deliveries - 1
            )
            self.redeliveries_exhausted(*args, lost=deliveries - 1, **kwargs)
            raise Reject(f"lost its worker {deliveries - 1} times", requeue=False)
        return super().__call__(*args, **kwargs)

    def _deliveries_key(self) -> str:
        # A retry is a new message with the same id: each retry's deliveries are counted on their own.
        return f"orion:celery:deliveries:{self.request.id}:{self.request.retries}"

    def _count_delivery(self) -> int | None:
        """This delivery's number (1 for the first), or None when the count cannot be kept."""
        from django.core.cache import cache

        try:
            cache.add(self._deliveries_key(), 0, timeout=24 * 3600)
            return cache.incr(self._deliveries_key())
        except Exception:  # without the cache the task runs unguarded rather than not at all
            logger.warning("could not count the deliveries of task %s[%s]", self.name, self.request.id)
            return None

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        """The delivery ended (it was not lost): its count is no longer needed."""
        if self.acks_late and self.reject_on_worker_lost:
            from django.core.cache import cache

            try:
                cache.delete(self._deliveries_key())
            except Exception:
                logger.warning("could not clear the delivery count of task %s[%s]", self.name, task_id)

    def redeliveries_exhausted(self, *args, lost: int, **kwargs) -> None:
        """Record that the task was given up (tasks with a record of their own override this)."""


def _max_redeliveries() -> int:
    from django.conf import settings

    return settings.CELERY_MAX_REDELIVERIES


app = Celery("orion_ops", task_cls=BoundedRedeliveryTask)


def _settings_from_django() -> dict:
    from django.conf import settings

    return settings.CELERY


# Evaluated lazily, the first time Celery needs its configuration.
app.add_defaults(_settings_from_django)
app.autodiscover_tasks()


@signals.setup_logging.connect
def _logging_from_settings(**_kwargs):
    """Worker and beat log like the web: settings.LOGGING (format, level, redaction)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _bind_task(task_id=None, task=None, args=None, kwargs=None, **_extra):
    from orion_ops import logs

    logs.reset()
    incident_id = (kwargs or {}).get("incident_id")
    logs.bind(task_id=task_id, task=getattr(task, "name", None), incident_id=incident_id)


@signals.task_postrun.connect
def _unbind_task(**_extra):
    from orion_ops import logs

    logs.reset()
