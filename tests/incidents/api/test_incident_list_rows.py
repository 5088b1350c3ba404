"""The incident list is built from plain values; it must say exactly what IncidentListSerializer says."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from incidents import lifecycle, selectors
from incidents.actors import Actor
from incidents.api.serializers import (
    INCIDENT_LIST_COLUMNS,
    IncidentListSerializer,
    incident_list_represent,
    incident_list_values,
)
from incidents.integrations import integration_create
from incidents.models import Incident, IntegrationKind, Source
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents/"


@pytest.fixture
def varied(engineer, manager):
    """Incidents covering every kind of value a list row holds."""
    actor = Actor.for_user(engineer)
    zeta, alpha, mid = ServiceFactory(slug="zeta-api"), ServiceFactory(slug="alpha-db"), ServiceFactory(slug="mid-q")
    integration, _ = integration_create(name='Prom, "prod" {eu} \\ NULL ☃', kind=IntegrationKind.ALERTMANAGER)
    now = timezone.now()

    plain = IncidentFactory(title="No services, nobody on it")
    several = IncidentFactory(title="Ünïcödé — “quotes” \u2028 and <html>", services=[zeta, alpha, mid])
    lifecycle.transition(several, "acknowledged", actor=actor)
    late = IncidentFactory(severity="P0", services=[mid], detected_at=now - timedelta(hours=3))
    lifecycle.transition(late, "acknowledged", actor=actor)
    overdue = IncidentFactory(severity="P1", detected_at=(now - timedelta(hours=2)).replace(microsecond=0))
    done = IncidentFactory(services=[alpha])
    lifecycle.transition(done, "resolved", actor=actor, note="rolled back")
    Incident.objects.filter(pk=several.pk).update(commander=manager)
    Incident.objects.filter(pk=overdue.pk).update(
        sla_breached_at=now - timedelta(minutes=5),
        source=Source.ALERTMANAGER,
        integration=integration,
        dedup_key="HighErrorRate|checkout",
        occurrences=3,
        last_seen_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        alert_starts_at=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        alerts_resolved_at=datetime(2026, 1, 2, 4, 0, tzinfo=UTC),
        previous_incident=done,
        unrouted=True,
    )
    return [plain, several, late, overdue, done]


def serializer_output(queryset) -> list[dict]:
    return IncidentListSerializer(queryset.order_by("-detected_at", "-id"), many=True).data


def test_api_list_is_the_serializers_output_byte_for_byte(engineer_api, varied):
    response = engineer_api.get(URL + "?page_size=100")
    assert response.status_code == 200
    expected = serializer_output(selectors.incidents_for_list())
    assert len(expected) == len(varied)
    assert response.content.endswith(b'"results":' + JSONRenderer().render(expected) + b"}")
    assert [row["services"] for row in expected if row["title"].startswith("Ünïcödé")] == [
        ["alpha-db", "mid-q", "zeta-api"]
    ]
    assert [row["integration"] for row in expected if row["integration"]] == ['Prom, "prod" {eu} \\ NULL ☃']


def test_rows_match_the_serializer_in_another_time_zone(varied):
    queryset = selectors.incidents_for_list().order_by("-detected_at", "-id")
    with timezone.override("Asia/Kolkata"):
        rows = incident_list_represent(list(incident_list_values(queryset)))
        expected = serializer_output(selectors.incidents_for_list())
    assert JSONRenderer().render(rows) == JSONRenderer().render(expected)
    assert rows[0]["detected_at"].endswith("+05:30")


def test_row_fields_are_the_serializers_in_its_order(varied):
    rows = incident_list_represent(list(incident_list_values(Incident.objects.all())))
    assert all(list(row) == IncidentListSerializer.Meta.fields for row in rows)
    assert "service_slugs" in INCIDENT_LIST_COLUMNS and "detected_at" in INCIDENT_LIST_COLUMNS


def test_sla_breached_follows_the_serializer(varied):
    by_title = {row["title"]: row for row in serializer_output(selectors.incidents_for_list())}
    rows = {row["title"]: row for row in incident_list_represent(list(incident_list_values(Incident.objects.all())))}
    assert {title: row["sla_breached"] for title, row in rows.items()} == {
        title: row["sla_breached"] for title, row in by_title.items()
    }
    assert sorted(row["sla_breached"] for row in rows.values()) == [False, False, False, True, True]


def test_filtered_and_later_pages_match_the_serializer(engineer_api, varied):
    queries = ("?open=true", "?service=mid-q", "?severity=P1&severity=P0", "?page=1&page_size=2", "?page=3&page_size=2")
    for query in queries:
        body = engineer_api.get(URL + query).json()
        ids = [row["id"] for row in body["results"]]
        expected = serializer_output(selectors.incidents_for_list().filter(pk__in=ids))
        assert body["results"] == expected, query
        assert ids
    first = engineer_api.get(URL + "?page_size=2").json()
    second = engineer_api.get(first["next"]).json()
    ids = [row["id"] for row in second["results"]]
    assert second["results"] == serializer_output(selectors.incidents_for_list().filter(pk__in=ids))


def test_null_user_names_and_deleted_users(engineer_api, varied):
    gone = UserFactory(username="left-the-company")
    incident = varied[0]
    Incident.objects.filter(pk=incident.pk).update(acknowledged_by=gone)
    row = next(r for r in engineer_api.get(URL).json()["results"] if r["id"] == incident.pk)
    assert row["acknowledged_by"] == "left-the-company" and row["commander"] is None
    gone.delete()
    row = next(r for r in engineer_api.get(URL).json()["results"] if r["id"] == incident.pk)
    assert row["acknowledged_by"] is None


def test_first_page_counts_in_its_own_statement(engineer_api, monkeypatch, django_assert_num_queries):
    from incidents.api import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 4)
    for _ in range(4):
        IncidentFactory()
    engineer_api.get(URL)  # the token's first use is recorded once
    with django_assert_num_queries(3):  # token with its user, roles, the page with its count
        body = engineer_api.get(URL + "?page_size=1").json()
    assert (body["count"], body["count_is_exact"], len(body["results"])) == (4, True, 1)
    IncidentFactory()
    body = engineer_api.get(URL + "?page_size=1").json()
    assert (body["count"], body["count_is_exact"]) == (4, False)
    body = engineer_api.get(URL + "?severity=P0").json()
    assert (body["count"], body["count_is_exact"], body["results"], body["next"]) == (0, True, [], None)


def test_service_filter_knows_services_added_after_the_first_list(engineer_api):
    assert engineer_api.get(URL + "?service=added-later").status_code == 400
    incident = IncidentFactory(services=[ServiceFactory(slug="added-later")])
    body = engineer_api.get(URL + "?service=added-later").json()
    assert [row["id"] for row in body["results"]] == [incident.pk]


def test_cursor_pages_walk_incidents_detected_at_the_same_moment(engineer_api):
    moment = timezone.now() - timedelta(hours=1)
    same = [IncidentFactory(detected_at=moment) for _ in range(3)]
    newer, older = IncidentFactory(), IncidentFactory(detected_at=moment - timedelta(seconds=1))
    seen, url = [], URL + "?page_size=1"
    while url:
        page = engineer_api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == [newer.pk, *sorted((i.pk for i in same), reverse=True), older.pk]


def test_numbered_page_reads_ids_then_rows(engineer_api, django_assert_num_queries):
    incidents = [IncidentFactory() for _ in range(5)]
    engineer_api.get(URL)
    with django_assert_num_queries(5):  # token with its user, roles, count, the page's ids, its rows
        body = engineer_api.get(URL + "?page=2&page_size=2").json()
    newest_first = sorted(incidents, key=lambda i: (i.detected_at, i.pk), reverse=True)
    assert [row["id"] for row in body["results"]] == [i.pk for i in newest_first[2:4]]
    assert (body["count"], body["count_is_exact"]) == (5, True) and body["next"] and body["previous"]


def test_filters_still_apply_beside_paging_parameters(engineer_api, varied):
    assert engineer_api.get(URL + "?page_size=2&severity=P9").status_code == 400
    body = engineer_api.get(URL + "?page_size=10&severity=P0").json()
    assert [row["severity"] for row in body["results"]] == ["P0"]
    assert len(engineer_api.get(URL + "?page_size=10&unknown=1").json()["results"]) == len(varied)
