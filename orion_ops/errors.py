"""Error pages: JSON under /api/, HTML pages elsewhere."""

import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults

# Django logs a refused request with the exception's traceback; a 403 is an answer, not a fault.
request_logger = logging.getLogger("django.request")


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    # Our PermissionDenied messages say what is missing (a role); Django's own carry none.
    detail = str(exception or "") or "You do not have permission to do this."
    if is_api(request):
        response = JsonResponse({"detail": detail}, status=403)
    else:
        response = defaults.permission_denied(request, exception)
    user = getattr(request, "user", None)
    who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    request_logger.warning("Forbidden: %s %s for %s: %s", request.method, request.path, who, detail)
    response._has_been_logged = True  # one line above instead of Django's warning with a traceback
    return response


def bad_request(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def database_unavailable(exc: BaseException | None) -> bool:
    """The database could not be reached or went away mid-request (restart, failover, pool exhausted)."""
    return isinstance(exc, OperationalError | InterfaceError)


def service_unavailable(request):
    """503 with Retry-After: the request may be sent again as it is; nothing was changed."""
    if is_api(request):
        detail = "The database is unavailable; nothing was changed. Retry later."
        response = JsonResponse({"detail": detail}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Unavailable</title><h1>Orion Ops is briefly unavailable</h1>"
            "<p>Its database cannot be reached. Nothing was changed; try again in a few seconds.</p>",
            status=503,
        )
    response["Retry-After"] = str(settings.INTAKE_RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    # Django calls this handler inside its ``except`` block: the exception is the one being handled.
    if database_unavailable(sys.exc_info()[1]):
        return service_unavailable(request)
    if is_api(request):
        return JsonResponse({"detail": "Server error; nothing was changed. Try again."}, status=500)
    return defaults.server_error(request)
