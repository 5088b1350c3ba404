"""One rule, one place: the REST API and the browser refuse or allow the same things, for the same reason.

Each case is driven twice, on two incidents in the same state: once through the API (bearer token), once
through the browser views (session and CSRF token, as a form post). Both must answer with the same status
class and say the same thing.
"""

import html
from dataclasses import dataclass, field

import pytest
from django.test import Client

from incidents import lifecycle, reports
from incidents.actors import Actor
from incidents.models import NOTE_MAX_LENGTH, Incident, Report, Status
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

LONG_NOTE = "n" * (NOTE_MAX_LENGTH + 1)
FULL_NOTE = "n" * NOTE_MAX_LENGTH


@dataclass
class Case:
    name: str
    state: str  # acknowledged | resolved | resolved_with_report | in_review | reviewed
    api: tuple[str, str, dict]  # method, path under the incident, JSON body
    browser: tuple[str, dict]  # path under the incident page, form data
    refused_with: int | None  # None: both allow it
    says: str = ""  # what both answers say (refusals)
    then: dict = field(default_factory=dict)  # incident fields both must show afterwards
    role: str = "engineer"


CASES = [
    Case(
        "mitigate without a note",
        "acknowledged",
        ("post", "transition/", {"to": "mitigated"}),
        ("transition/", {"to": "mitigated"}),
        400,
        "Say what mitigated it.",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "resolve without a note",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "resolution": "fixed"}),
        ("transition/", {"to": "resolved", "resolution": "fixed"}),
        400,
        "Say how it was resolved.",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "resolve with a blank note",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "note": "   "}),
        ("transition/", {"to": "resolved", "resolution": "fixed", "note": "   "}),
        400,
        "Say how it was resolved.",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "a person resolves as auto_resolved",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "resolution": "auto_resolved", "note": "went away"}),
        ("transition/", {"to": "resolved", "resolution": "auto_resolved", "note": "went away"}),
        400,
        "auto_resolved is for alerts that clear themselves",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "an unknown resolution",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "resolution": "bored", "note": "meh"}),
        ("transition/", {"to": "resolved", "resolution": "bored", "note": "meh"}),
        400,
        '"bored" is not a resolution',
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "a duplicate without the original",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "resolution": "duplicate", "note": "same"}),
        ("transition/", {"to": "resolved", "resolution": "duplicate", "note": "same"}),
        400,
        "Name the incident this one duplicates.",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "a move with a note over the limit",
        "acknowledged",
        ("post", "transition/", {"to": "mitigated", "note": LONG_NOTE}),
        ("transition/", {"to": "mitigated", "note": LONG_NOTE}),
        400,
        f"A note holds at most {NOTE_MAX_LENGTH:,} characters",
        {"status": Status.ACKNOWLEDGED},
    ),
    Case(
        "a move with a note at the limit",
        "acknowledged",
        ("post", "transition/", {"to": "mitigated", "note": FULL_NOTE}),
        ("transition/", {"to": "mitigated", "note": FULL_NOTE}),
        None,
        then={"status": Status.MITIGATED},
    ),
    Case(
        "resolve with a note",
        "acknowledged",
        ("post", "transition/", {"to": "resolved", "resolution": "false_alarm", "note": "flapping check"}),
        ("transition/", {"to": "resolved", "resolution": "false_alarm", "note": "flapping check"}),
        None,
        then={"status": Status.RESOLVED, "resolution": "false_alarm"},
    ),
    Case(
        "a blank note",
        "acknowledged",
        ("post", "timeline/", {"text": "   "}),
        ("notes/", {"text": "   "}),
        400,
        "A note cannot be blank.",
    ),
    Case(
        "a note over the limit",
        "acknowledged",
        ("post", "timeline/", {"text": LONG_NOTE}),
        ("notes/", {"text": LONG_NOTE}),
        400,
        f"A note holds at most {NOTE_MAX_LENGTH:,} characters",
    ),
    Case(
        "a note on a reviewed incident",
        "reviewed",
        ("post", "timeline/", {"text": "one more thing"}),
        ("notes/", {"text": "one more thing"}),
        409,
        "is reviewed; its record is closed.",
    ),
    Case(
        "a severity change on a reviewed incident",
        "reviewed",
        ("patch", "", {"severity": "P0"}),
        ("severity/", {"severity": "P0"}),
        409,
        "is reviewed; its record is closed.",
        {"severity": "P1"},
    ),
    Case(
        "a reopen of a reviewed incident",
        "reviewed",
        ("post", "transition/", {"to": "acknowledged"}),
        ("transition/", {"to": "acknowledged"}),
        409,
        "cannot move from reviewed to acknowledged.",
        {"status": Status.REVIEWED},
    ),
    Case(
        "a report for an open incident",
        "acknowledged",
        ("post", "report/", {}),
        ("report/draft/", {}),
        409,
        "only a resolved incident gets a report.",
    ),
    Case(
        "a second report",
        "resolved_with_report",
        ("post", "report/", {}),
        ("report/draft/", {}),
        409,
        "already has a report.",
    ),
    Case(
        "sending a report back without a comment",
        "in_review",
        ("post", "report/request-changes/", {"comment": "  "}),
        ("report/request-changes/", {"comment": "  "}),
        400,
        "Say what should change.",
        role="manager",
    ),
    Case(
        "sending a report back with a comment",
        "in_review",
        ("post", "report/request-changes/", {"comment": "Say why the pool ran out"}),
        ("report/request-changes/", {"comment": "Say why the pool ran out"}),
        None,
        role="manager",
    ),
    Case(
        "a report by hand for a false alarm",
        "resolved",
        ("post", "report/", {}),
        ("report/draft/", {}),
        None,
    ),
]


def incident_in(state: str, engineer) -> Incident:
    actor = Actor.for_user(engineer)
    incident = IncidentFactory(title="Checkout returns 502", severity="P1")
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=actor, note="on it")
    if state == "acknowledged":
        return incident
    lifecycle.transition(incident, Status.RESOLVED, actor=actor, resolution="false_alarm", note="flapping")
    if state == "resolved":
        return incident
    report = reports.report_draft_create(incident_id=incident.pk, force=True)
    if state == "resolved_with_report":
        return incident
    if state == "in_review":
        reports.report_submit(report=report, actor=actor)
        return incident
    lifecycle.transition(incident, Status.REVIEWED, actor=actor, via_report_approval=True)
    return incident


def texts(body) -> list[str]:
    """Every string in a JSON body: the detail, each field error."""
    if isinstance(body, dict):
        return [text for value in body.values() for text in texts(value)]
    if isinstance(body, list):
        return [text for value in body for text in texts(value)]
    return [body] if isinstance(body, str) else []


def api_answer(client, incident: Incident, case: Case) -> tuple[int, str]:
    method, path, body = case.api
    response = getattr(client, method)(f"/api/v1/incidents/{incident.pk}/{path}", body, format="json")
    return response.status_code, " | ".join(texts(response.json()))


def browser_answer(user, incident: Incident, case: Case) -> tuple[int, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(f"/incidents/{incident.pk}/")
    data = {**case.browser[1], "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    response = client.post(f"/incidents/{incident.pk}/{case.browser[0]}", data)
    return response.status_code, html.unescape(response.content.decode())


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_api_and_browser_agree(case, engineer, engineer_api, manager, manager_api):
    user, api = (manager, manager_api) if case.role == "manager" else (engineer, engineer_api)
    by_api, by_browser = incident_in(case.state, engineer), incident_in(case.state, engineer)
    api_status, api_text = api_answer(api, by_api, case)
    browser_status, browser_text = browser_answer(user, by_browser, case)

    if case.refused_with is None:
        assert api_status < 300 and 200 <= browser_status < 400, (api_status, browser_status, api_text[:300])
    else:
        assert (api_status, browser_status) == (case.refused_with, case.refused_with), api_text[:300]
        assert case.says in api_text, api_text[:500]
        assert case.says in browser_text
    for name, value in case.then.items():
        assert getattr(Incident.objects.get(pk=by_api.pk), name) == value, f"API: {name}"
        assert getattr(Incident.objects.get(pk=by_browser.pk), name) == value, f"browser: {name}"
    reports_made = {Report.objects.filter(incident=i).exists() for i in (by_api, by_browser)}
    assert len(reports_made) == 1, "one channel drafted a report, the other did not"
    report_states = {
        Report.objects.filter(incident=i).values_list("status", flat=True).first() for i in (by_api, by_browser)
    }
    assert len(report_states) == 1, f"the reports ended in different states: {report_states}"
