"""The dashboard: open incidents by severity then deadline, counts per severity, filters, empty state."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Status
from incidents.services import incident_update
from incidents.templatetags.orion import status_icon
from tests.factories import IncidentFactory, ServiceFactory


def row_ids(html):
    return [int(pk) for pk in re.findall(r'<tr id="incident-(\d+)"', html)]


@pytest.mark.django_db
def test_rows_ordered_by_severity_then_deadline(viewer_client, engineer):
    now = timezone.now()
    p2 = IncidentFactory(severity="P2")
    p1_later = IncidentFactory(severity="P1", detected_at=now)
    p1_sooner = IncidentFactory(severity="P1", detected_at=now - timedelta(minutes=5))
    p0 = IncidentFactory(severity="P0")
    closed = IncidentFactory(severity="P0")
    lifecycle.transition(closed, "resolved", actor=Actor.for_user(engineer), note="x")
    html = viewer_client.get("/").content.decode()
    assert row_ids(html) == [p0.pk, p1_sooner.pk, p1_later.pk, p2.pk]


@pytest.mark.django_db
def test_row_shows_badge_services_status_age_commander_and_countdown(engineer_client, incident):
    html = engineer_client.get("/").content.decode()
    row = re.search(rf'<tr id="incident-{incident.pk}".*?</tr>', html, re.S).group(0)
    for part in ('class="sev sev-p1"', "Checkout returns 502", "task-service", "status-detected", "Ack within",
                 "data-ack-due=", "data-relative", "nobody", "Acknowledge INC-"):  # fmt: skip
        assert part in row, part


@pytest.mark.django_db
def test_counts_per_severity(viewer_client, engineer):
    IncidentFactory(severity="P0")
    acked = IncidentFactory(severity="P0")
    lifecycle.transition(acked, "acknowledged", actor=Actor.for_user(engineer))
    IncidentFactory(severity="P3")
    html = viewer_client.get("/").content.decode()
    assert 'aria-label="2 open P0, 1 not acknowledged"' in html
    assert 'aria-label="0 open P1, 0 not acknowledged"' in html
    assert 'aria-label="1 open P3, 1 not acknowledged"' in html


@pytest.mark.django_db
def test_filters(engineer_client, engineer):
    checkout = ServiceFactory(slug="checkout")
    mine = IncidentFactory(severity="P2", services=[checkout])
    incident_update(incident=mine, actor=Actor.for_user(engineer), commander=engineer)
    other = IncidentFactory(severity="P1")
    acked = IncidentFactory(severity="P3")
    lifecycle.transition(acked, "acknowledged", actor=Actor.for_user(engineer))
    get = lambda **q: row_ids(engineer_client.get("/", q).content.decode())  # noqa: E731
    assert get(service="checkout") == [mine.pk]
    assert get(severity="P1") == [other.pk]
    assert get(status="acknowledged") == [acked.pk]
    assert get(mine="on") == [mine.pk, acked.pk]  # acknowledging made erin commander of the P3
    assert get(service="gone", severity="P1") == [other.pk]  # a bad value is dropped, not a 500


@pytest.mark.django_db
def test_empty_states(viewer_client):
    assert "No open incidents. All quiet." in viewer_client.get("/").content.decode()
    assert "No open incidents match these filters" in viewer_client.get("/?severity=P0").content.decode()


@pytest.mark.django_db
def test_assets_are_local_and_scripts_not_inline(viewer_client, incident):
    for path in ("/", f"/incidents/{incident.pk}/", "/accounts/login/"):
        response = viewer_client.get(path)
        html = response.content.decode()
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert " onclick=" not in html and " onchange=" not in html
        assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_page_of_a_hundred_unacknowledged_rows_stays_under_100_kb(viewer_client, engineer_client):
    services = [ServiceFactory(slug=f"service-{n}") for n in range(200)]
    long_ago = timezone.now() - timedelta(days=3)
    for n in range(101):  # the worst case: every row counting past its deadline, one page full
        IncidentFactory(title=f"HighErrorRate on service-{n} ({n})", severity="P0", services=[services[n]],
                        detected_at=long_ago)  # fmt: skip
    page = viewer_client.get("/").content
    assert page.decode().count('class="incident-row"') == 100 and "SLA breached" in page.decode()
    assert len(page) < 100_000, len(page)
    page = engineer_client.get("/").content  # every row with an Ack button
    assert len(page) < 100_000, len(page)
    html = page.decode()
    assert html.count("<form") == 3  # filters, the one acknowledge form, sign out
    assert html.count("csrfmiddlewaretoken") == 2  # the acknowledge form and sign out, not one per row
    assert html.count('<button form="ack" formaction="/incidents/') == 100


def row_icon_rules():
    """{class or element the rule names: icon symbol name} from the stylesheet's row icon rules."""
    sprite = (settings.BASE_DIR / "static/img/icons.svg").read_text()
    svg = "<svg xmlns='http://www.w3.org/2000/svg'{attrs}>{body}</svg>"
    symbols = {
        match["name"]: svg.format(attrs=match["attrs"], body=match["body"]).replace('"', "'")
        for match in re.finditer(r'<symbol id="(?P<name>[\w-]+)"(?P<attrs>[^>]*)>(?P<body>.*?)</symbol>', sprite, re.S)
    }
    by_shape = {shape: name for name, shape in symbols.items()}
    css = (settings.BASE_DIR / "static/css/orion.css").read_text()
    rules = re.findall(r'^#incident-rows (.+?) \{ --row-icon: url\("data:image/svg\+xml,(.+?)"\); \}$', css, re.M)
    assert rules
    icons = {}
    for selector, shape in rules:
        assert shape in by_shape, f"{selector}: not a symbol of icons.svg"
        for name in re.findall(r"[.\w-]+", selector.removeprefix(":is")):
            icons[name] = by_shape[shape]
    return icons


def test_row_icons_in_the_stylesheet_are_the_sprite_s_symbols():
    icons = row_icon_rules()
    for status in Status:
        assert icons[f".status-{status}"] == status_icon(status), status
    assert icons["button"] == "eye"
    assert icons[".sla-due"] == icons[".sla-breached"] == "clock"
    assert (icons[".sla-met"], icons[".sla-missed"]) == ("check", "alert")


@pytest.mark.django_db
def test_every_state_a_row_shows_has_its_icon_and_rows_carry_no_icon_markup(engineer_client, engineer):
    actor = Actor.for_user(engineer)
    IncidentFactory(severity="P1")  # counting down
    IncidentFactory(severity="P1", detected_at=timezone.now() - timedelta(hours=2))  # breached
    for status in ("acknowledged", "diagnosing", "mitigated"):
        lifecycle.transition(IncidentFactory(severity="P2"), status, actor=actor, note="rolled back")  # SLA met
    late = IncidentFactory(severity="P3", detected_at=timezone.now() - timedelta(days=2))
    lifecycle.transition(late, "acknowledged", actor=actor)  # SLA missed
    html = engineer_client.get("/").content.decode()
    rows = html[html.index('<tbody id="incident-rows">') : html.index("</tbody>")]
    assert "<svg" not in rows and "<button" in rows
    shown = set(re.findall(r'class="(?:status|sla) ((?:status|sla)-[\w-]+)', rows))
    assert {"status-detected", "status-acknowledged", "status-diagnosing", "status-mitigated"} <= shown
    assert {"sla-due", "sla-breached", "sla-met", "sla-missed"} <= shown
    assert {f".{name}" for name in shown} <= set(row_icon_rules())


@pytest.mark.django_db
def test_service_filter_lists_every_service_and_keeps_the_choice(viewer_client):
    for slug in ("payments", "checkout", "api"):
        ServiceFactory(slug=slug)
    html = viewer_client.get("/", {"service": "checkout"}).content.decode()
    select = re.search(r'<select name="service" id="id_service">.*?</select>', html, re.S).group(0)
    assert re.findall(r"<option[^>]*>([\w-]*)", select) == ["Any", "api", "checkout", "payments"]
    assert "<option selected>checkout" in select and select.count("selected") == 1
