"""JSON errors for everything under /api/, with the status code that fits.

The domain's refusals are translated here and only here: ``DomainInputError`` → 400 with its
field errors, ``DomainConflict`` (an illegal move, a reviewed incident, a report step out of
order) → 409 ``{detail, status, …}``, ``DomainForbidden`` (a manager approving their own report)
→ 403 ``{detail, status}``.
"""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents.errors import DomainConflict, DomainForbidden, DomainInputError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


def exception_handler(exc, context):
    if isinstance(exc, DomainConflict):
        return Response(exc.body(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DomainForbidden):
        return Response(exc.body(), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, DomainInputError):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # Clients get a 400 that says what to send, like any other malformed request.
        return Response(
            {"detail": f"{exc.detail} Send the body as application/json."}, status=status.HTTP_400_BAD_REQUEST
        )
    return drf_exception_handler(exc, context)
