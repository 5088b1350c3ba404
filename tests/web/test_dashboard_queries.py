"""The dashboard's query count does not grow with the number of open incidents."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory, ServiceFactory


def board(count, engineer):
    services = [ServiceFactory(slug=f"svc-{n}") for n in range(3)]
    for n in range(count):
        incident = IncidentFactory(severity=f"P{n % 4}", services=services[: 1 + n % 3])
        if n % 3 == 0:
            lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/?severity=P1", "/?mine=on", "/incidents/", "/services/", "/reports/"])
def test_query_count_constant_from_5_to_200_incidents(engineer_client, engineer, url):
    board(5, engineer)
    small, _ = queries_for(engineer_client, url)
    board(195, engineer)
    large, response = queries_for(engineer_client, url)
    assert large == small, f"{url}: {small} queries with 5 incidents, {large} with 200"
    if url == "/":
        html = response.content.decode()
        assert html.count('class="incident-row') == 100  # one page of the most urgent
        assert 'href="/?show=200">Show 100 more</a>' in html


@pytest.mark.django_db
def test_show_more_adds_a_page_at_the_same_query_count(engineer_client, engineer):
    board(230, engineer)
    first, page = queries_for(engineer_client, "/")
    more, response = queries_for(engineer_client, "/?show=200")
    html = response.content.decode()
    assert more == first
    assert html.count('class="incident-row') == 200 and 'href="/?show=300">Show 100 more</a>' in html
    last, response = queries_for(engineer_client, "/?show=300")
    assert response.content.decode().count('class="incident-row') == 230
    assert "Show 100 more" not in response.content.decode()
    # Rows come most severe first, then nearest deadline: the order of the partial index.
    order = [row.split('data-sort="')[1].split('"')[0] for row in html.split('class="incident-row')[1:]]
    keys = [tuple(int(part) for part in key.split("|")) for key in order]
    assert keys == sorted(keys)


@pytest.mark.django_db
def test_changes_rows_query_count_constant(engineer_client, engineer):
    from datetime import timedelta

    from django.utils import timezone

    since = int((timezone.now() - timedelta(minutes=1)).timestamp() * 1000)
    board(3, engineer)
    small, first = queries_for(engineer_client, f"/dashboard/changes/?since={since}")
    board(60, engineer)
    large, second = queries_for(engineer_client, f"/dashboard/changes/?since={since}")
    assert first.json()["rows_html"].count("<tr ") == 3 and second.json()["rows_html"].count("<tr ") == 63
    assert large == small


@pytest.mark.django_db
def test_too_many_changes_ask_the_page_to_reload(engineer_client, engineer, monkeypatch):
    from incidents.web.views import dashboard

    monkeypatch.setattr(dashboard, "CHANGES_LIMIT", 10)
    board(11, engineer)
    count, response = queries_for(engineer_client, "/dashboard/changes/?since=0")
    assert response.json()["resync"] is True and response.json()["rows_html"] == ""
