"""/services/: each service with its open incidents, burning ones first."""

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from tests.factories import IncidentFactory, ServiceFactory


@pytest.mark.django_db
def test_services_list_their_open_incidents_only(viewer_client, engineer):
    api = ServiceFactory(slug="api", name="API")
    ServiceFactory(slug="billing", name="Billing")
    open_one = IncidentFactory(title="API 5xx", severity="P1", services=[api])
    closed = IncidentFactory(title="API old blip", services=[api])
    lifecycle.transition(closed, "resolved", actor=Actor.for_user(engineer), note="x")
    html = viewer_client.get("/services/").content.decode()
    assert "1 of 2 with open incidents" in html
    assert html.index('id="service-api"') < html.index('id="service-billing"')
    api_card = html[html.index('id="service-api"') : html.index('id="service-billing"')]
    assert f'href="/incidents/{open_one.pk}/"' in api_card and "API old blip" not in api_card
    assert "1 open" in api_card
    assert "no open incidents" in html[html.index('id="service-billing"') :]
