"""JSON errors for everything under /api/, with the status code that fits."""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents.lifecycle import TransitionError, TransitionInputError
from incidents.services import IncidentLockedError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


def exception_handler(exc, context):
    if isinstance(exc, (TransitionError, IncidentLockedError)):
        return Response({"detail": exc.detail, "status": exc.status}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, TransitionInputError):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # Clients get a 400 that says what to send, like any other malformed request.
        return Response(
            {"detail": f"{exc.detail} Send the body as application/json."}, status=status.HTTP_400_BAD_REQUEST
        )
    return drf_exception_handler(exc, context)
