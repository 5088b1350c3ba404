import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orion_ops.settings")

app = Celery("orion_ops")


def _settings_from_django() -> dict:
    from django.conf import settings

    return settings.CELERY


# Evaluated lazily, the first time Celery needs its configuration.
app.add_defaults(_settings_from_django)
app.autodiscover_tasks()
