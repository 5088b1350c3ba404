"""Request checks that hold for every URL, API and browser pages alike."""

import re
import uuid

from django.http import JsonResponse

from orion_ops import errors, logs
from orion_ops.text import text_error


class RejectUnstorableTextMiddleware:
    """A NUL in the path is a 404, and a NUL in a query parameter a 400 naming the parameter.

    Filters and searches would otherwise hand the NUL to PostgreSQL, which refuses it with an error
    that surfaces as a 500. (Percent-decoding never yields a lone surrogate: Django replaces bytes
    that are not UTF-8.)
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            return errors.not_found(request)
        problems = {}
        for name, values in request.GET.lists():
            for value in (name, *values):
                message = text_error(value)
                if message:
                    problems[name] = [message]
                    break
        if problems:
            if errors.is_api(request):
                return JsonResponse(problems, status=400)
            return errors.bad_request(request)
        return self.get_response(request)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class RequestContextMiddleware:
    """Every log line of a request carries its request id (and incident id on an incident's URLs).

    The id is the caller's ``X-Request-ID`` when it is a plain token of at most 64
    characters (a proxy's id then links both logs), otherwise a new one; the answer
    carries it back in ``X-Request-ID``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        # A fresh context per request. It is not unbound on the way out: Django logs a 4xx/5xx
        # answer after the middleware has returned, and that line belongs to this request too.
        logs.reset()
        logs.bind(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        incident_id = view_kwargs.get("incident_id") or view_kwargs.get("incident_pk")
        if incident_id is None and "/incidents/" in request.path_info:
            incident_id = view_kwargs.get("pk")
        if incident_id is not None:
            logs.bind(incident_id=str(incident_id))
        return None
