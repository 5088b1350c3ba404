from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_GET

from incidents import health
from incidents.api import docs

handler400 = "orion_ops.errors.bad_request"
handler403 = "orion_ops.errors.permission_denied"
handler404 = "orion_ops.errors.not_found"
handler500 = "orion_ops.errors.server_error"


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; the icon is an SVG (its name carries a hash)."""
    return redirect(static("img/favicon.svg"))


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/schema/", docs.SchemaView.as_view(), name="schema"),
    path("api/v1/docs/", docs.api_docs, name="api-docs"),
    path("api/v1/", include("diagnostics.urls")),
    path("api/v1/", include("incidents.api.urls")),
    path("admin/", admin.site.urls),
    path("runbooks/", include("diagnostics.web_urls")),
    path("", include("incidents.paging.web_urls")),
    path("", include("incidents.web.urls")),
]
