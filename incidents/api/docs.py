"""The OpenAPI schema and its Swagger UI page, and who may read them.

Both pages are public only with ``API_SCHEMA_PUBLIC`` (default: DEBUG); otherwise
the schema needs a token or session with a role (401/403 like the rest of the
API) and the docs page sends anonymous people to sign in. The setting is read
per request. (Kept apart from ``schema``: drf-spectacular's views import the
schema class named in the settings, which lives there.)
"""

from django.conf import settings
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from incidents import roles
from incidents.permissions import RolePermission
from incidents.web.access import role_required


class SchemaView(SpectacularAPIView):
    def get_permissions(self):
        return [AllowAny()] if settings.API_SCHEMA_PUBLIC else [RolePermission()]


_swagger = SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/docs.html")
_swagger_for_viewers = role_required(roles.VIEWER)(_swagger)


@require_GET
def api_docs(request):
    """Swagger UI (served from the sidecar's static files; its initialiser is ``?script=``)."""
    view = _swagger if settings.API_SCHEMA_PUBLIC else _swagger_for_viewers
    return view(request)
