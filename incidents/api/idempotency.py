"""``Idempotency-Key`` for POSTs: the first response is kept 24 h and replayed.

Scoped per client (token, or user for the browser). A repeat with the same key
and body gets the first status and body again; the same key with another body
is a 422; a repeat while the first request is still running is a 409.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from incidents.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


def _scope(request) -> str:
    token = getattr(request, "auth", None)
    if token is not None and getattr(token, "pk", None) is not None:
        return f"token:{token.pk}"
    return f"user:{request.user.pk}"


def _digest(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(handler):
    """Wrap a view method so it honours Idempotency-Key."""

    def wrapper(view, request, *args, **kwargs):
        key = request.META.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            return Response(
                {"detail": f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        scope, digest, now = _scope(request), _digest(request), timezone.now()
        expired_before = now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
        IdempotencyRecord.objects.filter(scope=scope, key=key, created_at__lt=expired_before).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(scope=scope, key=key, request_digest=digest, created_at=now)
        except IntegrityError:
            first = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
            if first is None:  # expired and purged between the two statements
                return Response(
                    {"detail": "The earlier request with this Idempotency-Key just expired; retry."},
                    status=status.HTTP_409_CONFLICT,
                )
            if first.request_digest != digest:
                return Response(
                    {"detail": "This Idempotency-Key was used with a different request body."},
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if not first.completed:
                return Response(
                    {"detail": "A request with this Idempotency-Key is still in progress."},
                    status=status.HTTP_409_CONFLICT,
                )
            response = Response(first.response_body, status=first.response_status)
            response["Idempotent-Replayed"] = "true"
            return response

        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # 4xx errors are answers too and are replayed; anything DRF
                # cannot turn into a response re-raises here.
                response = view.handle_exception(exc)
        except BaseException:
            # Nothing was answered: let the client retry with the same key.
            record.delete()
            raise
        if response.status_code >= 500:
            record.delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            completed=True, response_status=response.status_code, response_body=response.data
        )
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper
