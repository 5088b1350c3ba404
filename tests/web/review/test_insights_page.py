"""/insights/: figures per severity checked against hand-computed values, the period and service pickers,
and charts drawn as inline SVG with text legends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def handled(engineer, *, severity, days_ago, ack_min=None, resolve_min=None, service=None, title="x"):
    detected = timezone.now() - timedelta(days=days_ago)
    incident = IncidentFactory(
        severity=severity, detected_at=detected, services=[service] if service else [], title=title
    )
    if ack_min is not None:
        lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
        lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), resolution="fixed", note="done")
        Incident.objects.filter(pk=incident.pk).update(
            acknowledged_at=detected + timedelta(minutes=ack_min),
            resolved_at=detected + timedelta(minutes=resolve_min),
        )
    return incident


@pytest.fixture
def fixed_data(engineer):
    checkout = ServiceFactory(slug="checkout")
    # P1 (ack within 15 min): acknowledged after 5, 10 and 30 min; resolved after 60, 120, 180 min.
    handled(engineer, severity="P1", days_ago=1, ack_min=5, resolve_min=60, service=checkout, title="P1 one")
    handled(engineer, severity="P1", days_ago=2, ack_min=10, resolve_min=120, title="P1 two")
    handled(engineer, severity="P1", days_ago=3, ack_min=30, resolve_min=180, title="P1 three")
    # P0 never acknowledged, its deadline long gone: a breach.
    handled(engineer, severity="P0", days_ago=2, title="P0 ignored")
    # Outside the last 7 days.
    handled(engineer, severity="P2", days_ago=20, ack_min=20, resolve_min=40, title="P2 old")


def row(html: str, severity: str) -> str:
    start = html.index(f'<span class="sev sev-{severity.lower()}"', html.index("Response per severity"))
    return html[start : html.index("</tr>", start)]


def test_figures_per_severity_match_hand_computed_values(viewer_client, fixed_data):
    html = viewer_client.get("/insights/?period=7").content.decode()
    p1 = row(html, "P1")
    # MTTA mean (5+10+30)/3 = 15 min, median 10 min; MTTR mean 120 min = 2 h, median 2 h; SLA 2 of 3.
    assert [
        cell for cell in ("3 <span", "15 min", "10 min", "2 h", "66.7 %", "2 of 3", "1 breached") if cell not in p1
    ] == []
    p0 = row(html, "P0")
    assert "0 %" in p0 and "0 of 1" in p0 and "1 breached" in p0
    assert "Last 7 days" in html
    assert "P2 old" not in html and '<span class="stat-value">4</span>' in html


def test_period_of_30_days_includes_older_incidents(viewer_client, fixed_data):
    html = viewer_client.get("/insights/?period=30").content.decode()
    assert '<span class="stat-value">5</span>' in html and "20 min" in row(html, "P2")


def test_dates_pick_a_custom_period(viewer_client, fixed_data):
    today = timezone.localdate()
    start, end = today - timedelta(days=21), today - timedelta(days=19)
    html = viewer_client.get(f"/insights/?period=custom&start={start}&end={end}").content.decode()
    assert f"{start:%Y-%m-%d} – {end:%Y-%m-%d}" in html
    assert '<span class="stat-value">1</span>' in html
    assert f"start={start}" in html and "days=" not in html.split("/api/v1/insights/?")[1][:40]


def test_bad_dates_say_so_and_fall_back_to_30_days(viewer_client, fixed_data):
    response = viewer_client.get("/insights/?period=custom&start=2026-13-40")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid date." in html and "Last 30 days" in html


def test_service_picker_narrows_the_figures(viewer_client, fixed_data):
    html = viewer_client.get("/insights/?period=7&service=checkout").content.decode()
    assert "· checkout" in html and '<span class="stat-value">1</span>' in html
    assert "5 min" in row(html, "P1")


def test_charts_are_inline_svg_with_text_legends(viewer_client, fixed_data):
    html = viewer_client.get("/insights/?period=30").content.decode()
    assert html.count('<svg class="chart-svg"') == 2
    assert "MTTA: detected → acknowledged (solid line, circles)" in html
    assert "MTTR: detected → resolved (dashed line, squares)" in html
    assert 'fill="url(#pat-p1)"' in html and "P1 High (stripes)" in html
    assert "Figures as a table" in html
    assert "<script" not in html.split("</head>")[1]  # no inline script in the body


def test_empty_period_has_no_charts_but_says_why(viewer_client):
    html = viewer_client.get("/insights/").content.decode()
    assert "No incidents in the period." in html and '<svg class="chart-svg"' not in html
