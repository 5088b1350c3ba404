import pytest
from django.contrib.auth import get_user_model

from incidents.integrations import integration_create
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "service",
    "incident",
    "timelineentry",
    "apitoken",
    "idempotencyrecord",
    "integration",
    "alertpayload",
    "incidentalert",
]


@pytest.fixture
def admin_client_with_data(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(admin)
    service = ServiceFactory(slug="task-service")
    IncidentFactory(services=[service])
    integration_create(name="am", kind="alertmanager")
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_an_admin_list(admin_client_with_data, model):
    response = admin_client_with_data.get(f"/admin/incidents/{model}/")
    assert response.status_code == 200


def test_timeline_is_read_only_in_admin(admin_client_with_data):
    from incidents.models import TimelineEntry

    entry = TimelineEntry.objects.first()
    response = admin_client_with_data.post(f"/admin/incidents/timelineentry/{entry.pk}/change/", {"text": "edited"})
    assert response.status_code == 403
    assert TimelineEntry.objects.get(pk=entry.pk).text != "edited"
    assert admin_client_with_data.get("/admin/incidents/timelineentry/add/").status_code == 403


def test_token_digest_is_never_shown(admin_client_with_data):
    from incidents.models import Integration

    integration = Integration.objects.get()
    page = admin_client_with_data.get(f"/admin/incidents/integration/{integration.pk}/change/").content.decode()
    assert integration.digest not in page
