"""The OpenAPI schema and its Swagger UI page, and how the schema describes token authentication.

Both pages are public only with ``API_SCHEMA_PUBLIC`` (default: DEBUG); otherwise
the schema needs a token or session with a role (401/403 like the rest of the
API) and the docs page sends anonymous people to sign in. The setting is read
per request.
"""

from django.conf import settings
from django.views.decorators.http import require_GET
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from incidents import roles
from incidents.permissions import RolePermission
from incidents.web.access import role_required


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "incidents.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `python manage.py create_api_token USERNAME --name NAME`.",
        }


class SchemaView(SpectacularAPIView):
    def get_permissions(self):
        return [AllowAny()] if settings.API_SCHEMA_PUBLIC else [RolePermission()]


_swagger = SpectacularSwaggerSplitView.as_view(url_name="schema")
_swagger_for_viewers = role_required(roles.VIEWER)(_swagger)


@require_GET
def api_docs(request):
    """Swagger UI (served from the sidecar's static files; its initialiser is ``?script=``)."""
    view = _swagger if settings.API_SCHEMA_PUBLIC else _swagger_for_viewers
    return view(request)
