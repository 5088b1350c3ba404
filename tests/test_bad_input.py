"""Hand-made bad input from the API audit: each is a 4xx that names the problem, and nothing is stored."""

import json
import re
from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from incidents import lifecycle, reports
from incidents.action_items import action_item_create
from incidents.actors import Actor
from incidents.models import ActionItem, Incident, Report, Service, TimelineEntry
from incidents.web.urls import urlpatterns as web_urlpatterns
from orion_ops.text import NUL_MESSAGE, SURROGATE_MESSAGE
from tests.conftest import client_for
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db

NOT_INTEGERS = ["abc", "1.5", "-1", "1e3", "0x10", "%C2%A0"]
HUGE_ID = "99999999999999999999"  # an integer PostgreSQL cannot hold


@pytest.fixture
def data(engineer):
    """An open incident, and a resolved one with its report and an action item."""
    service = ServiceFactory(slug="task-service", name="Task service")
    actor = Actor.for_user(engineer)
    open_incident = IncidentFactory(title="Checkout 5xx above 5%", severity="P1", services=[service])
    fixed = IncidentFactory(title="Task queue backlog", severity="P2", services=[service])
    lifecycle.transition(fixed, "acknowledged", actor=actor)
    lifecycle.transition(fixed, "resolved", actor=actor, resolution="fixed", note="drained the queue")
    report = reports.report_draft_create(incident_id=fixed.pk)
    item = action_item_create(incident=fixed, actor=actor, title="Alert on queue depth")
    return {"incident": open_incident, "fixed": fixed, "report": report, "item": item}


def _stored() -> dict:
    return {
        "incidents": list(Incident.objects.order_by("pk").values_list("pk", "title", "description", "status")),
        "timeline": TimelineEntry.objects.count(),
        "action_items": list(ActionItem.objects.order_by("pk").values_list("pk", "title", "owner_id", "due_date")),
        "services": list(Service.objects.order_by("pk").values_list("pk", "slug", "name")),
        "reports": list(Report.objects.order_by("pk").values_list("pk", "version", "summary")),
    }


def _send(client, method: str, url: str, raw_body: str | None = None, **extra):
    kwargs = {"data": raw_body, "content_type": "application/json"} if raw_body is not None else {}
    return getattr(client, method.lower())(url, **kwargs, **extra)


# Ids that are not integers -------------------------------------------------------------------------


def _operations_with_integer_ids(client) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/schema/?format=json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p["schema"].get("type") == "integer"
            }
            for name in names:
                path = path.replace(f"{{{name}}}", "{id}")
            if names:
                found.append((method.upper(), path))
    return found


@pytest.mark.parametrize("bad_id", [*NOT_INTEGERS, HUGE_ID])
def test_every_api_route_with_an_id_answers_404_json_to_an_id_that_is_not_a_stored_integer(manager, data, bad_id):
    client = client_for(manager)
    operations = _operations_with_integer_ids(client)
    assert len(operations) >= 20  # the schema's operations on incidents, action items, alert payloads
    before = _stored()
    wrong = []
    for method, path in operations:
        response = _send(
            client, method, path.replace("{id}", bad_id), "{}" if method in ("POST", "PUT", "PATCH") else None
        )
        if response.status_code != 404 or response["Content-Type"] != "application/json":
            wrong.append((method, path, response.status_code, response["Content-Type"]))
    assert wrong == []
    assert _stored() == before


def _web_routes_with_integer_ids() -> list[str]:
    return [
        "/" + re.sub(r"<int:\w+>", "{id}", str(pattern.pattern))
        for pattern in web_urlpatterns
        if "<int:" in str(pattern.pattern)
    ]


@pytest.mark.parametrize("route", _web_routes_with_integer_ids())
def test_every_page_with_an_id_answers_404_to_an_id_that_is_not_an_integer(client, manager, data, route):
    client.force_login(manager)
    before = _stored()
    for bad_id in NOT_INTEGERS:
        for method in ("get", "post"):
            response = getattr(client, method)(route.replace("{id}", bad_id))
            assert response.status_code == 404, (method, bad_id)
            assert response["Content-Type"].startswith("text/html")
    for method in ("get", "post"):
        # An integer too large to be stored reaches the view: no such object (or the page's own 400/405).
        response = getattr(client, method)(route.replace("{id}", HUGE_ID))
        assert response.status_code in (400, 404, 405), (method, response.status_code)
    assert _stored() == before


# NUL characters and unpaired surrogates ------------------------------------------------------------

BODIES = [
    # (role, method, url, body with the bad text as {bad}, the field named in the 400)
    ("engineer", "POST", "/api/v1/incidents/", {"title": "Outage {bad}", "severity": "P1"}, "title"),
    (
        "engineer",
        "POST",
        "/api/v1/incidents/",
        {"title": "Outage", "severity": "P1", "services": ["{bad}"]},
        "services",
    ),
    ("engineer", "POST", "/api/v1/incidents/", {"title": "x", "severity": "P1", "extra": {"deep": ["{bad}"]}}, "extra"),
    ("engineer", "PATCH", "/api/v1/incidents/{incident}/", {"description": "{bad}"}, "description"),
    ("engineer", "POST", "/api/v1/incidents/{incident}/timeline/", {"text": "pool at 96{bad}"}, "text"),
    ("engineer", "POST", "/api/v1/incidents/{incident}/transition/", {"to": "acknowledged", "note": "{bad}"}, "note"),
    ("engineer", "POST", "/api/v1/incidents/{incident}/acknowledge/", {"note": "{bad}"}, "note"),
    ("engineer", "POST", "/api/v1/action-items/", {"incident": "{fixed}", "title": "t", "owner": "{bad}erin"}, "owner"),
    ("engineer", "PATCH", "/api/v1/action-items/{item}/", {"title": "Alert {bad}"}, "title"),
    ("engineer", "PUT", "/api/v1/incidents/{fixed}/report/", {"version": 1, "summary": "{bad}"}, "summary"),
    (
        "engineer",
        "POST",
        "/api/v1/incidents/{incident}/mitigations/",
        {"action": "scale", "service": "{bad}"},
        "service",
    ),
    ("engineer", "POST", "/api/v1/incidents/{incident}/diagnostics/", {"collectors": ["{bad}"]}, "collectors"),
    ("manager", "POST", "/api/v1/services/", {"slug": "search", "name": "Search {bad}"}, "name"),
    ("manager", "PATCH", "/api/v1/services/task-service/", {"owners": ["{bad}"]}, "owners"),
    ("manager", "POST", "/api/v1/incidents/{fixed}/report/request-changes/", {"comment": "{bad}"}, "comment"),
]


def _fill(template, data: dict, bad: str):
    """The body with ids filled in and the bad text placed, as raw JSON (\\u escapes, as clients send it)."""
    ids = {"incident": data["incident"].pk, "fixed": data["fixed"].pk, "item": data["item"].pk}
    # ensure_ascii: a lone surrogate is written as the \ud800 escape
    text = json.dumps(template) if isinstance(template, dict) else template
    for name, pk in ids.items():
        text = text.replace(f'"{{{name}}}"', str(pk)).replace(f"{{{name}}}", str(pk))
    return text.replace("{bad}", json.dumps(bad)[1:-1])


@pytest.mark.parametrize(
    ("bad", "message"), [("\x00", NUL_MESSAGE), ("\ud800", SURROGATE_MESSAGE)], ids=["nul", "surrogate"]
)
@pytest.mark.parametrize(
    ("role", "method", "url", "body", "field"), BODIES, ids=[f"{c[1]} {c[2]} {c[4]}" for c in BODIES]
)
def test_unstorable_text_in_a_body_is_a_400_naming_the_field(
    request, data, role, method, url, body, field, bad, message
):
    client = client_for(request.getfixturevalue(role))
    before = _stored()
    response = _send(client, method, _fill(url, data, bad), _fill(body, data, bad))
    assert response.status_code == 400, response.content
    assert response.json() == {field: [message]}
    assert _stored() == before


def test_unstorable_text_in_a_key_is_named_printably(engineer_api):
    response = _send(engineer_api, "POST", "/api/v1/incidents/", '{"title": "x", "severity": "P1", "a\\ud800": 1}')
    assert response.status_code == 400
    assert response.json() == {"a\\ud800": [SURROGATE_MESSAGE]}
    assert Incident.objects.count() == 0


QUERIES = [
    ("/api/v1/incidents/", "q"),
    ("/api/v1/incidents/", "dedup_key"),
    ("/api/v1/incidents/", "service"),
    ("/api/v1/incidents/", "status"),
    ("/api/v1/incidents/{incident}/timeline/", "order"),
    ("/api/v1/incidents/{incident}/alerts/", "page"),
    ("/api/v1/action-items/", "owner"),
    ("/api/v1/alert-payloads/", "incident"),
    ("/api/v1/services/", "page_size"),
    ("/api/v1/insights/", "service"),
]


@pytest.mark.parametrize(("url", "parameter"), QUERIES)
def test_nul_in_a_query_parameter_is_a_400_naming_it(engineer_api, data, url, parameter):
    url = url.replace("{incident}", str(data["incident"].pk))
    response = engineer_api.get(f"{url}?{parameter}=task%00service")
    assert response.status_code == 400
    assert response.json() == {parameter: [NUL_MESSAGE]}


def test_nul_in_a_query_parameter_name_is_a_400(engineer_api):
    response = engineer_api.get("/api/v1/incidents/?q%00=x")
    assert response.status_code == 400
    assert response.json() == {"q\x00": [NUL_MESSAGE]}


def test_nul_in_a_page_query_is_a_400_page(client, engineer):
    client.force_login(engineer)
    response = client.get("/incidents/?q=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", ["/api/v1/services/task%00service/", "/api/v1/incidents/1%00/"])
def test_nul_in_an_api_path_is_a_json_404(manager_api, data, url):
    response = manager_api.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# Time zone offsets and datetimes outside PostgreSQL's range -----------------------------------------

BAD_DATETIMES = [
    "2026-01-01T00:00:00-19:10",
    "2026-01-01T00:00:00+16:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-01:00",
]


@pytest.mark.parametrize("value", BAD_DATETIMES)
def test_unstorable_detected_at_is_a_400(engineer_api, value):
    response = engineer_api.post(
        "/api/v1/incidents/", {"title": "x", "severity": "P1", "detected_at": value}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["detected_at"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("value", BAD_DATETIMES)
@pytest.mark.parametrize("parameter", ["detected_after", "detected_before"])
def test_unstorable_time_filter_is_a_400_naming_it(engineer_api, data, parameter, value):
    response = engineer_api.get(f"/api/v1/incidents/?{parameter}={quote(value)}")
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_offsets_postgresql_accepts_still_filter(engineer_api, data):
    # +14:00 (Kiribati) and -12:00 exist; an offset is converted, not refused.
    response = engineer_api.get(f"/api/v1/incidents/?detected_after={quote('2000-01-01T00:00:00+14:00')}")
    assert response.status_code == 200 and response.json()["count"] == 2
    created = engineer_api.post(
        "/api/v1/incidents/",
        {"title": "x", "severity": "P3", "detected_at": "2026-01-01T00:00:00-12:00"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["detected_at"] == "2026-01-01T12:00:00Z"


@pytest.mark.parametrize(
    "value", ["2026-01-01T00:00:00-19:10", "0001-01-01T00:00:00+05:00", "10000-01-01", "2026-02-30"]
)
def test_bad_due_date_is_a_400(engineer_api, data, value):
    before = _stored()
    response = engineer_api.patch(f"/api/v1/action-items/{data['item'].pk}/", {"due_date": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["due_date"]
    assert _stored() == before


def test_insights_period_before_the_year_1_is_a_400(engineer_api):
    response = engineer_api.get("/api/v1/insights/?end=0001-01-05")
    assert response.status_code == 400
    assert list(response.json()) == ["end"]


# JSON nested too deep ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 900, 1_000, 100_000])
@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", "/api/v1/incidents/"), ("PATCH", "/api/v1/incidents/{incident}/"), ("POST", "/api/v1/action-items/")],
)
def test_json_nested_too_deep_is_a_400_parse_error(engineer_api, data, method, url, depth):
    before = _stored()
    body = '{"title": "x", "severity": "P1", "description": ' + "[" * depth + "]" * depth + "}"
    response = _send(engineer_api, method, url.replace("{incident}", str(data["incident"].pk)), body)
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 64 levels."}
    assert _stored() == before


def test_the_api_parses_json_with_the_project_parser(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] == ["incidents.api.parsers.JSONParser"]


# Odd Authorization headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "\xa0",
        " ",
        "Bearer",
        "Bearer ",
        "Bearer  x",
        "Bearer x y",
        "Bearer\xa0x",
        "Bearer ключ",
        "Bearer \ud800",
        "Bearer \x7f",
    ],
)
def test_odd_authorization_header_is_401(data, header):
    client = APIClient()
    before = _stored()
    for method, url, body in [
        ("GET", "/api/v1/incidents/", None),
        ("POST", "/api/v1/incidents/", '{"title": "x", "severity": "P1"}'),
    ]:
        response = _send(client, method, url, body, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, (header, response.content)
        assert response["WWW-Authenticate"] == "Bearer"
        assert "detail" in response.json()
    assert _stored() == before
