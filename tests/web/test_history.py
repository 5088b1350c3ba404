"""/incidents/: every incident, newest first, searchable and filterable, paginated."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.web.views import incidents as incident_views
from tests.factories import IncidentFactory, ServiceFactory


def ids(response):
    return [int(pk) for pk in re.findall(r'href="/incidents/(\d+)/"', response.content.decode())]


@pytest.mark.django_db
def test_search_by_text_and_reference(viewer_client):
    pool = IncidentFactory(title="DB connection pool exhausted")
    other = IncidentFactory(title="Slow search", description="pool of workers fine")
    IncidentFactory(title="Unrelated")
    assert sorted(ids(viewer_client.get("/incidents/", {"q": "pool"}))) == sorted([pool.pk, other.pk])
    assert ids(viewer_client.get("/incidents/", {"q": f"INC-{pool.pk}"})) == [pool.pk]


@pytest.mark.django_db
def test_filters_status_severity_service_and_dates(viewer_client, engineer):
    checkout = ServiceFactory(slug="checkout")
    old = IncidentFactory(severity="P1", services=[checkout], detected_at=timezone.now() - timedelta(days=10))
    resolved = IncidentFactory(severity="P2")
    lifecycle.transition(resolved, "resolved", actor=Actor.for_user(engineer), note="x")
    assert ids(viewer_client.get("/incidents/", {"status": "resolved"})) == [resolved.pk]
    assert ids(viewer_client.get("/incidents/", {"severity": "P1"})) == [old.pk]
    assert ids(viewer_client.get("/incidents/", {"service": "checkout"})) == [old.pk]
    recent = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert ids(viewer_client.get("/incidents/", {"detected_after": recent})) == [resolved.pk]
    assert ids(viewer_client.get("/incidents/", {"detected_before": recent})) == [old.pk]


@pytest.mark.django_db
def test_bad_filter_value_is_reported_not_fatal(viewer_client):
    response = viewer_client.get("/incidents/", {"detected_after": "soon"})
    assert response.status_code == 200 and "Enter a valid date." in response.content.decode()


@pytest.mark.django_db
def test_pagination_keeps_filters(viewer_client, monkeypatch):
    monkeypatch.setattr(incident_views, "HISTORY_PAGE_SIZE", 2)
    made = [IncidentFactory(severity="P3") for _ in range(5)]
    first = viewer_client.get("/incidents/", {"severity": "P3"})
    assert ids(first) == [made[4].pk, made[3].pk]
    assert "?severity=P3&amp;page=2" in first.content.decode()
    assert ids(viewer_client.get("/incidents/", {"severity": "P3", "page": 3})) == [made[0].pk]
    assert "Page 3 of 3" in viewer_client.get("/incidents/", {"severity": "P3", "page": 99}).content.decode()
