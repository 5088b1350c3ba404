"""Request checks that hold for every URL, API and browser pages alike."""

from django.http import JsonResponse

from orion_ops import errors
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
