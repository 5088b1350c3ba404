import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_json_404(engineer_api):
    response = engineer_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found."}


def test_format_suffix_urls_are_not_routed(engineer_api):
    from tests.factories import IncidentFactory

    incident = IncidentFactory()
    for response in (
        engineer_api.get("/api/v1/incidents.json"),
        engineer_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge.json"),
    ):
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert incident.timeline.count() == 1


def test_wrong_method_is_json_405(engineer_api):
    response = engineer_api.delete("/api/v1/incidents/")
    assert response.status_code == 405
    assert "detail" in response.json()


def test_unknown_page_outside_api_is_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_openapi_schema_documents_the_contract(viewer_api):
    response = viewer_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/",
        "/api/v1/incidents/{id}/transition/",
        "/api/v1/incidents/{id}/acknowledge/",
        "/api/v1/incidents/{id}/timeline/",
        "/api/v1/services/",
    ):
        assert path in paths, path
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "409" in paths["/api/v1/incidents/{id}/acknowledge/"]["post"]["responses"]


def test_api_docs_are_served_locally(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    csp = response["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if "script-src" in part)
    assert "unsafe-inline" not in script_src
    # The split view loads its initialiser as a same-origin script, allowed by script-src 'self'.
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
