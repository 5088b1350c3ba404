import os

from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orion_ops.settings")
django_application = get_wsgi_application()


def _wrapped(application):
    """``settings.WSGI_WRAPPERS`` around Django, first listed outermost (answers asked before Django's cycle)."""
    from django.conf import settings

    for path in reversed(settings.WSGI_WRAPPERS):
        application = import_string(path)(application)
    return application


application = _wrapped(django_application)
