"""Error pages: JSON under /api/, HTML pages elsewhere."""

from django.http import JsonResponse
from django.views import defaults


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    if is_api(request):
        # Our PermissionDenied messages say what is missing (a role); Django's own carry none.
        detail = str(exception or "") or "You do not have permission to do this."
        return JsonResponse({"detail": detail}, status=403)
    return defaults.permission_denied(request, exception)


def bad_request(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if is_api(request):
        return JsonResponse({"detail": "Server error; nothing was changed. Try again."}, status=500)
    return defaults.server_error(request)
