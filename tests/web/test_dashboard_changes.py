"""GET /dashboard/changes/?since=<cursor>: only rows changed since the cursor, removed ids, fresh counts."""

import re
import time

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident
from incidents.web import live
from tests.factories import IncidentFactory, ServiceFactory


def changes(client, cursor, **filters):
    response = client.get("/dashboard/changes/", {"since": cursor, **filters})
    assert response.status_code == 200
    return response.json()


def row_ids(html):
    return sorted(int(pk) for pk in re.findall(r'<tr id="incident-(\d+)"', html))


@pytest.fixture
def quiet_overlap(monkeypatch):
    # The overlap re-sends rows touched just before the cursor; shrink it so "only what changed" is exact.
    from datetime import timedelta

    monkeypatch.setattr(live, "CURSOR_OVERLAP", timedelta(0))


@pytest.mark.django_db
def test_nothing_changed_sends_nothing(engineer_client, quiet_overlap):
    IncidentFactory(severity="P1")
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    body = changes(engineer_client, cursor)
    assert body["rows_html"] == "" and body["removed"] == [] and "counts_html" not in body
    assert body["cursor"] >= cursor and abs(body["server_time"] - time.time() * 1000) < 5000


@pytest.mark.django_db
def test_only_changed_rows_are_sent(engineer_client, engineer, quiet_overlap):
    quiet = IncidentFactory(severity="P1", title="quiet one")
    moved = IncidentFactory(severity="P2", title="moved one")
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    lifecycle.transition(moved, "acknowledged", actor=Actor.for_user(engineer))
    new = IncidentFactory(severity="P0", title="brand new")

    body = changes(engineer_client, cursor)
    assert row_ids(body["rows_html"]) == sorted([moved.pk, new.pk])
    assert f"incident-{quiet.pk}" not in body["rows_html"]
    assert 'data-status="acknowledged"' in body["rows_html"]
    assert body["removed"] == []
    assert re.search(
        r'sev-count-p0">\s*<a href="\?severity=P0" aria-label="1 open P0, 1 not acknowledged"', body["counts_html"]
    )


@pytest.mark.django_db
def test_closed_incident_is_removed(engineer_client, engineer, quiet_overlap):
    incident = IncidentFactory()
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="done")
    body = changes(engineer_client, cursor)
    assert body["removed"] == [incident.pk] and body["rows_html"].strip() == ""


@pytest.mark.django_db
def test_filters_apply_to_changes(engineer_client, engineer, quiet_overlap):
    checkout = ServiceFactory(slug="checkout")
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    inside = IncidentFactory(severity="P1", services=[checkout])
    outside = IncidentFactory(severity="P1")
    body = changes(engineer_client, cursor, service="checkout")
    assert row_ids(body["rows_html"]) == [inside.pk]
    assert body["removed"] == [outside.pk]  # changed, but not on this filtered page


@pytest.mark.django_db
def test_mine_filter_drops_incident_handed_to_someone_else(engineer_client, engineer, manager, quiet_overlap):
    from incidents.services import incident_update

    incident = IncidentFactory()
    incident_update(incident=incident, actor=Actor.for_user(engineer), commander=engineer)
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    incident_update(incident=Incident.objects.get(pk=incident.pk), actor=Actor.for_user(engineer), commander=manager)
    body = changes(engineer_client, cursor, mine="on")
    assert body["removed"] == [incident.pk]


@pytest.mark.django_db
def test_rows_use_the_page_row_template(engineer_client, engineer, quiet_overlap):
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    incident = IncidentFactory(severity="P1", title="Orders 502")
    body = changes(engineer_client, cursor, severity="P1")
    page = engineer_client.get("/", {"severity": "P1"}).content.decode()
    row = re.search(r'<tr id="incident-\d+".*?</tr>', body["rows_html"], re.S).group(0)
    page_row = re.search(rf'<tr id="incident-{incident.pk}".*?</tr>', page, re.S).group(0)
    assert row == page_row
    # The row's button submits the page's one acknowledge form, which returns to the filtered page.
    assert f'<button form="ack" formaction="/incidents/{incident.pk}/transition/"' in row
    assert "csrfmiddlewaretoken" not in row
    ack_form = re.search(r'<form id="ack" .*?</form>', page, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in ack_form and 'name="next" value="/?severity=P1"' in ack_form


@pytest.mark.django_db
def test_missing_or_bad_cursor_is_400(engineer_client):
    for query in ("", "?since=", "?since=yesterday"):
        response = engineer_client.get(f"/dashboard/changes/{query}")
        assert response.status_code == 400 and "since" in response.json()["detail"]
