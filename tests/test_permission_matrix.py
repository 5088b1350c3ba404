"""Who may call what: every route of the URL conf × every method its view allows × every kind of caller.

The routes come from ``django.urls.get_resolver()``, so a new endpoint is in the
matrix the day it is added, and fails here until RULES says who may call it.
RULES is the one table of expectations: route → the least role per method.

- Below the least role a caller is refused: API views answer 401 (no or a
  non-user credential) or 403 (a user without the role); pages send anonymous
  people to sign in and answer 403 to users without the role.
- At or above it a caller is let through: anything but 401/403 or a trip to
  the sign-in page (a 400 for the empty body sent here is fine).
- Nobody ever gets a 5xx.

API routes are called with bearer tokens, pages with a signed-in session. The
integration principal presents an integration's token: as the bearer header
(alertmanager) or the routing key (events) on the intake, and as a bearer
header everywhere else, where it is no user's token.
"""

import dataclasses
import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from incidents import intake
from incidents.integrations import integration_create
from incidents.tokens import api_token_create
from tests.factories import UserFactory
from tests.incidents.intake import payloads
from tests.web.review.helpers import item_for, report_for

VIEWER, ENGINEER, MANAGER = "viewer", "engineer", "manager"
PUBLIC = "public"  # anyone, signed in or not
INTEGRATION = "integration"  # only an integration's token

PRINCIPALS = ("anonymous", "outsider", "viewer", "engineer", "manager", "integration")
RANK = {"viewer": 1, "engineer": 2, "manager": 3}
USER_RANK = {"outsider": 0, "viewer": 1, "engineer": 2, "manager": 3}
METHOD_ORDER = ("GET", "HEAD", "OPTIONS", "PATCH", "PUT", "POST", "DELETE")


def api(**methods: str) -> dict[str, str]:
    """A DRF route: HEAD follows GET; OPTIONS (the schema metadata) is a read, for viewers."""
    rule = {"OPTIONS": VIEWER, **methods}
    if "GET" in rule:
        rule.setdefault("HEAD", rule["GET"])
    return rule


# Route (the URL pattern with its parameters as <name>) → method → least role.
# A plain string applies to every method the view allows.
RULES: dict[str, dict[str, str] | str] = {
    # Probes and metrics (METRICS_TOKEN is unset here).
    "/healthz": PUBLIC,
    "/readyz": PUBLIC,
    "/metrics": PUBLIC,
    "/favicon.ico": PUBLIC,
    # API schema and docs (API_SCHEMA_PUBLIC is off: DEBUG is off in tests).
    "/api/v1/schema/": api(GET=VIEWER),
    "/api/v1/docs/": {"GET": VIEWER},
    # Incidents.
    "/api/v1/incidents/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<pk>/": api(GET=VIEWER, PATCH=ENGINEER),
    "/api/v1/incidents/<pk>/acknowledge/": api(POST=ENGINEER),
    "/api/v1/incidents/<pk>/transition/": api(POST=ENGINEER),
    "/api/v1/incidents/<pk>/timeline/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<pk>/alerts/": api(GET=VIEWER),
    "/api/v1/incidents/<incident_id>/diagnostics/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<incident_id>/mitigations/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<incident_id>/hypotheses/": api(GET=VIEWER),
    "/api/v1/incidents/<incident_id>/runbooks/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<incident_id>/severity-suggestion/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/incidents/<incident_id>/runbooks/<slug>/steps/<number>/": api(POST=ENGINEER),
    # Reports, action items, insights.
    "/api/v1/incidents/<pk>/report/": api(GET=VIEWER, PUT=ENGINEER, POST=ENGINEER),
    "/api/v1/incidents/<pk>/report/submit/": api(POST=ENGINEER),
    "/api/v1/incidents/<pk>/report/approve/": api(POST=MANAGER),
    "/api/v1/incidents/<pk>/report/request-changes/": api(POST=MANAGER),
    "/api/v1/incidents/<pk>/report.md": api(GET=VIEWER),
    "/api/v1/action-items/": api(GET=VIEWER, POST=ENGINEER),
    "/api/v1/action-items/<pk>/": api(GET=VIEWER, PATCH=ENGINEER),
    "/api/v1/insights/": api(GET=VIEWER),
    # Services: everyone reads, managers change.
    "/api/v1/services/": api(GET=VIEWER, POST=MANAGER),
    "/api/v1/services/<slug>/": api(GET=VIEWER, PATCH=MANAGER, DELETE=MANAGER),
    # Raw intake bodies: engineers read, managers replay.
    "/api/v1/alert-payloads/": api(GET=ENGINEER),
    "/api/v1/alert-payloads/<pk>/": api(GET=ENGINEER),
    "/api/v1/alert-payloads/<pk>/replay/": api(POST=MANAGER),
    # Intake: integration tokens only (OPTIONS answers anyone, as DRF does for AllowAny views).
    "/api/v1/integrations/alertmanager/": {"POST": INTEGRATION, "OPTIONS": PUBLIC},
    "/api/v1/integrations/events/": {"POST": INTEGRATION, "OPTIONS": PUBLIC},
    # Paging: everyone reads; engineers re-send and post status updates; managers edit policies.
    # The iCal feed's secret URL is its key (no session, no bearer token).
    "/api/v1/schedules/": api(GET=VIEWER),
    "/api/v1/schedules/<pk>/": api(GET=VIEWER),
    "/api/v1/schedules/<pk>/oncall/": api(GET=VIEWER),
    "/api/v1/schedules/<pk>/ical": {"GET": PUBLIC, "HEAD": PUBLIC, "OPTIONS": PUBLIC},
    "/api/v1/escalation-policies/": api(GET=VIEWER, POST=MANAGER),
    "/api/v1/escalation-policies/<pk>/": api(GET=VIEWER, PATCH=MANAGER, DELETE=MANAGER),
    "/api/v1/deliveries/": api(GET=VIEWER),
    "/api/v1/deliveries/<pk>/": api(GET=VIEWER),
    "/api/v1/deliveries/<pk>/resend/": api(POST=ENGINEER),
    "/api/v1/incidents/<pk>/status-updates/": api(POST=ENGINEER),
    # Signing in and out.
    "/accounts/login/": PUBLIC,
    "/accounts/logout/": PUBLIC,
    "/admin/login/": PUBLIC,
    # Pages.
    "/": {"GET": VIEWER},
    "/dashboard/changes/": {"GET": VIEWER},
    "/dashboard/stamp/": {"GET": VIEWER},
    "/incidents/": {"GET": VIEWER},
    "/incidents/new/": {"GET": ENGINEER, "POST": ENGINEER},
    "/incidents/<pk>/": {"GET": VIEWER},
    "/incidents/<pk>/changes/": {"GET": VIEWER},
    "/incidents/<pk>/transition/": {"POST": ENGINEER},
    "/incidents/<pk>/severity/": {"POST": ENGINEER},
    "/incidents/<pk>/commander/": {"POST": ENGINEER},
    "/incidents/<pk>/notes/": {"POST": ENGINEER},
    "/incidents/<pk>/report/": {"GET": VIEWER},
    "/incidents/<pk>/report/edit/": {"POST": ENGINEER},
    "/incidents/<pk>/report/preview/": {"POST": ENGINEER},
    "/incidents/<pk>/report/draft/": {"POST": ENGINEER},
    "/incidents/<pk>/report/submit/": {"POST": ENGINEER},
    "/incidents/<pk>/report/approve/": {"POST": MANAGER},
    "/incidents/<pk>/report/request-changes/": {"POST": MANAGER},
    "/incidents/<pk>/report/print/": {"GET": VIEWER},
    "/incidents/<pk>/action-items/": {"POST": ENGINEER},
    "/action-items/": {"GET": VIEWER},
    "/action-items/<item_pk>/status/": {"POST": ENGINEER},
    "/services/": {"GET": VIEWER},
    "/reports/": {"GET": VIEWER},
    "/insights/": {"GET": VIEWER},
    "/intake/": {"GET": ENGINEER},
    "/intake/payloads/<pk>/replay/": {"POST": MANAGER},
    "/runbooks/": {"GET": VIEWER},
    "/deliveries/": {"GET": VIEWER},
    "/deliveries/<pk>/resend/": {"POST": ENGINEER},
    "/profile/": {"GET": VIEWER, "POST": VIEWER},
    "/incidents/<pk>/status-updates/": {"POST": ENGINEER},
    "/runbooks/<slug>/": {"GET": VIEWER},
}


# -- the routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the RULES key: the pattern with its parameters as <name>, without a format suffix
    pattern: str  # as Django has it, with the format suffix if any
    callback: object
    format_suffix: bool

    @property
    def drf(self) -> bool:
        view_class = getattr(self.callback, "cls", None)
        return isinstance(view_class, type) and issubclass(view_class, APIView)

    def __str__(self) -> str:
        return self.key + (".json" if self.format_suffix else "")


def _key(pattern: str) -> tuple[str, bool]:
    text = pattern.replace("^", "").replace("$", "")
    suffixed = r"\.(?P<format>" in text
    text = re.sub(r"\\\.\(\?P<format>[^)]*\)/\?", "", text)
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", text)
    text = re.sub(r"<\w+:(\w+)>", r"<\1>", text)
    if suffixed and not text.endswith("/"):
        text += "/"  # incidents/<pk>.json is incidents/<pk>/ in another format
    return "/" + text, suffixed


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            # The admin's own pages are Django's (staff only); its sign-in is ours to throttle.
            if namespace == "admin" and entry.name != "login":
                continue
            yield prefix + str(entry.pattern), entry.callback


def routes() -> list[Route]:
    found = []
    for pattern, callback in _walk(get_resolver().url_patterns):
        key, suffixed = _key(pattern)
        found.append(Route(key=key, pattern=pattern, callback=callback, format_suffix=suffixed))
    return found


ROUTES = routes()


def test_every_rule_names_a_route():
    """A rule for a route that no longer exists is a stale expectation."""
    assert sorted(set(RULES) - {route.key for route in ROUTES}) == []


# -- the world the callers act on ------------------------------------------------------------------


@dataclass
class World:
    incident_id: int
    service_slug: str
    action_item_id: int
    payload_id: int
    runbook_slug: str
    alertmanager_token: str
    events_token: str
    users: dict
    tokens: dict

    def url(self, route: Route) -> str:
        values = {"format": "json", "incident_id": self.incident_id, "item_pk": self.action_item_id}
        if route.key.startswith(("/api/v1/alert-payloads/", "/intake/payloads/")):
            values["pk"] = self.payload_id
        elif route.key.startswith("/api/v1/action-items/"):
            values["pk"] = self.action_item_id
        else:
            values["pk"] = self.incident_id
        values["slug"] = self.runbook_slug if "/runbooks/" in route.key else self.service_slug
        values["number"] = 1  # a runbook checklist's first step
        names = re.findall(r"<(\w+)>", route.key)
        missing = [name for name in names if name not in values]
        assert not missing, f"{route}: say in World.url which object fills <{'>, <'.join(missing)}>"
        url = route.key
        for name in names:
            url = url.replace(f"<{name}>", str(values[name]))
        if route.format_suffix:
            url = url.rstrip("/") + ".json"
        return url


@pytest.fixture
def world(db, settings):
    # Five users per test: the default hasher would cost a second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users = {
        "outsider": UserFactory(username="matrix-outsider"),
        "viewer": UserFactory(username="matrix-viewer", role="viewer"),
        "engineer": UserFactory(username="matrix-engineer", role="engineer"),
        "manager": UserFactory(username="matrix-manager", role="manager"),
    }
    tokens = {name: api_token_create(user=user, name="matrix")[1] for name, user in users.items()}
    report = report_for(users["engineer"])
    incident = report.incident
    item = item_for(incident, users["engineer"])
    alertmanager, alertmanager_token = integration_create(name="matrix-am", kind="alertmanager")
    _, events_token = integration_create(name="matrix-events", kind="events")
    payload = intake.payload_store(
        integration=alertmanager, body=payloads.dumps(payloads.firing(service="task-service")), alert_count=1
    )
    return World(
        incident_id=incident.pk,
        service_slug=incident.services.get().slug,
        action_item_id=item.pk,
        payload_id=payload.pk,
        runbook_slug="high-cpu",
        alertmanager_token=alertmanager_token,
        events_token=events_token,
        users=users,
        tokens=tokens,
    )


def caller(world: World, principal: str, route: Route):
    """A test client as ``principal``: bearer tokens for the API, a session for pages."""
    if route.drf:
        client = APIClient(raise_request_exception=False)
        if principal in world.tokens:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[principal]}")
        elif principal == "integration":
            token = world.events_token if route.key.endswith("/events/") else world.alertmanager_token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client
    client = Client(raise_request_exception=False)
    if principal in world.users:
        client.force_login(world.users[principal])
    elif principal == "integration":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.alertmanager_token}"
    return client


def body_for(world: World, principal: str, route: Route, method: str):
    if method not in ("POST", "PUT", "PATCH"):
        return None
    if route.key == "/api/v1/integrations/alertmanager/":
        return payloads.firing(service="task-service")
    if route.key == "/api/v1/integrations/events/":
        # The events API's credential is the body's routing key: each caller sends what it holds.
        key = world.events_token if principal == "integration" else world.tokens.get(principal)
        event = {
            "event_action": "trigger",
            "dedup_key": "matrix",
            "payload": {"summary": "Queue depth above 1000", "source": "worker-1", "severity": "error"},
        }
        return {**event, "routing_key": key} if key else event
    return {}


def send(client, method: str, url: str, body, drf: bool):
    call = getattr(client, method.lower())
    if body is None:
        return call(url)
    if drf:
        return call(url, body, format="json")
    return call(url, body) if method == "POST" else call(url, body, content_type="application/x-www-form-urlencoded")


# -- which methods a view allows -------------------------------------------------------------------


def allowed_methods(route: Route, world: World) -> list[str]:
    """Class-based views say it; function views are asked (their method check runs before anything else)."""
    view_class = getattr(route.callback, "cls", None) or getattr(route.callback, "view_class", None)
    if view_class is not None:
        names = set(view_class.http_method_names)
        actions = getattr(route.callback, "actions", None)
        if actions is not None:  # a router's viewset route maps methods to actions
            methods = {m for m in actions if m in names}
            methods |= {m for m in ("options",) if m in names}
        else:
            methods = {m for m in names if hasattr(view_class, m)}
        if "get" in methods and "head" in names:
            methods.add("head")
        return sorted((m.upper() for m in methods), key=METHOD_ORDER.index)
    client = Client(raise_request_exception=False)
    url = world.url(route)
    return [m for m in METHOD_ORDER if getattr(client, m.lower())(url).status_code != 405]


# -- expectations ----------------------------------------------------------------------------------


def may_call(least: str, principal: str) -> bool:
    if least == PUBLIC:
        return True
    if least == INTEGRATION:
        return principal == "integration"
    return principal in USER_RANK and USER_RANK[principal] >= RANK[least]


def refusal_problem(route: Route, principal: str, least: str, response) -> str | None:
    """What is wrong with ``response`` as a refusal, or None."""
    status = response.status_code
    if least == INTEGRATION:
        # An events caller's credential is its routing key: a wrong one is PagerDuty's 400.
        if status in (401, 403) or (status == 400 and response.json().get("status") == "invalid event"):
            return None
        return f"expected a refusal (401/403, or the events API's 400), got {status}"
    if route.drf:
        expected = 401 if principal in ("anonymous", "integration") else 403
        return None if status == expected else f"expected {expected}, got {status}"
    if principal in ("anonymous", "integration"):
        location = response.get("Location", "")
        if status == 302 and location.startswith("/accounts/login/?next="):
            return None
        return f"expected a redirect to the sign-in page, got {status} {location}".rstrip()
    return None if status == 403 else f"expected 403, got {status}"


def admission_problem(least: str, response) -> str | None:
    status = response.status_code
    if least == INTEGRATION and status not in (200, 202):
        return f"expected the intake to take the valid body (200/202), got {status}"
    if status in (401, 403):
        return f"refused with {status}"
    if status == 302 and response.get("Location", "").startswith("/accounts/login/?next="):
        return "sent to the sign-in page"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_permission_matrix(route, world):
    rule = RULES.get(route.key)
    assert rule is not None, f"no rule for {route.key} (pattern {route.pattern!r}): add one to RULES"
    problems = []
    for method in allowed_methods(route, world):
        least = rule if isinstance(rule, str) else rule.get(method)
        if least is None:
            problems.append(f"{method}: the view allows it but RULES has no rule for it")
            continue
        for principal in PRINCIPALS:
            response = send(
                caller(world, principal, route),
                method,
                world.url(route),
                body_for(world, principal, route, method),
                route.drf,
            )
            if response.status_code >= 500:
                problems.append(f"{method} as {principal}: {response.status_code}")
                continue
            if may_call(least, principal):
                problem = admission_problem(least, response)
            else:
                problem = refusal_problem(route, principal, least, response)
            if problem:
                problems.append(f"{method} as {principal} (least: {least}): {problem}")
    assert not problems, f"{route}:\n  " + "\n  ".join(problems)


# -- the same matrix with two teams (TEAM_SCOPED=1) ------------------------------------------------

# Routes whose object is the world's incident, or hangs off it (its action item, the payload of its alert).
NOT_THE_INCIDENT = (
    "/api/v1/services/", "/runbooks/", "/api/v1/schedules/", "/api/v1/escalation-policies/",
    "/api/v1/deliveries/", "/deliveries/",
)  # fmt: skip


def touches_the_incident(route: Route) -> bool:
    return bool(re.search(r"<(pk|incident_id|item_pk)>", route.key)) and not route.key.startswith(NOT_THE_INCIDENT)


TEAM_PRINCIPALS = ("viewer", "engineer", "manager", "alpha-manager")


@pytest.fixture
def team_world(world, settings):
    """The world's incident belongs to team alpha; the viewer, engineer and manager are in team beta."""
    from incidents.models import Service, Team

    settings.TEAM_SCOPED = True
    alpha, beta = Team.objects.create(slug="alpha"), Team.objects.create(slug="beta")
    triage = Team.objects.create(slug=settings.TRIAGE_TEAM)
    Service.objects.filter(slug=world.service_slug).update(team=alpha)
    insider = UserFactory(username="matrix-alpha-manager", role="manager")
    alpha.members.add(insider)
    triage.members.add(insider)  # the stored payload reached no incident: it is triage's
    beta.members.add(world.users["viewer"], world.users["engineer"], world.users["manager"])
    world.users["alpha-manager"] = insider
    world.tokens["alpha-manager"] = api_token_create(user=insider, name="matrix")[1]
    return world


@pytest.mark.parametrize("route", [r for r in ROUTES if touches_the_incident(r)], ids=str)
def test_team_matrix_another_teams_incident_is_not_found(route, team_world):
    """Outside their teams people are answered as for an incident that does not exist (a 404, or the 400 a
    malformed request gets either way): its existence does not leak. Inside, the roles decide as above."""
    rule = RULES[route.key]
    nowhere = dataclasses.replace(team_world, incident_id=999_999, action_item_id=999_999, payload_id=999_999)
    problems = []
    for method in allowed_methods(route, team_world):
        if method == "OPTIONS":
            continue  # DRF's metadata describes the endpoint, not the object
        least = rule if isinstance(rule, str) else rule[method]
        for principal in TEAM_PRINCIPALS:
            response = send(
                caller(team_world, principal, route),
                method,
                team_world.url(route),
                body_for(team_world, principal, route, method),
                route.drf,
            )
            status = response.status_code
            rank = 3 if principal == "alpha-manager" else USER_RANK[principal]
            if status >= 500:
                problems.append(f"{method} as {principal}: {status}")
            elif principal == "alpha-manager":
                problem = admission_problem(least, response) or (status == 404 and "not found")
                if problem:
                    problems.append(f"{method} as {principal}: {problem}")
            else:
                absent = send(
                    caller(nowhere, principal, route), method, nowhere.url(route),
                    body_for(nowhere, principal, route, method), route.drf,
                ).status_code  # fmt: skip
                allowed = {403} if rank < RANK[least] else {404, 400}
                if status != absent or status not in allowed | {404}:
                    problems.append(
                        f"{method} as {principal} of team beta: got {status}, and {absent} for no incident at all"
                    )
    assert not problems, f"{route}:\n  " + "\n  ".join(problems)
