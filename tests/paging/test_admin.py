import pytest
from django.contrib.auth import get_user_model

from tests.paging.helpers import channel, person, policy, schedule

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model",
    ["contactmethod", "channel", "schedule", "escalationpolicy", "stakeholder", "incidentescalation", "delivery"],
)
def test_paging_admin_pages_list_and_edit(client, model):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(root)
    person("alice", ("email", "alice@example.com"))
    s = schedule(participants=["alice"])
    policy("default", {"schedule": s})
    channel()
    got = client.get(f"/admin/paging/{model}/")
    assert got.status_code == 200
    assert client.get(f"/admin/paging/{model}/add/").status_code in (200, 403)


def test_a_schedule_change_page_shows_rotations(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(root)
    person("alice")
    s = schedule(participants=["alice"])
    page = client.get(f"/admin/paging/schedule/{s.pk}/change/").content.decode()
    assert "alice" in page and "Rotation" in page
