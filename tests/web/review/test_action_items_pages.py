"""Action items from the incident page, the report and the board: add, close, filter; overdue said in words."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import ActionItem
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.review.helpers import item_for

pytestmark = pytest.mark.django_db


def test_engineer_adds_an_item_from_the_incident_page(engineer_client, engineer):
    incident = IncidentFactory(severity="P1")
    due = timezone.localdate() + timedelta(days=14)
    response = engineer_client.post(
        f"/incidents/{incident.pk}/action-items/",
        {
            "title": "Alert on pool saturation",
            "owner": engineer.pk,
            "due_date": due.isoformat(),
            "type": "detective",
            "priority": "high",
            "origin": "incident",
            "next": f"/incidents/{incident.pk}/#panel-action-items",
        },
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/incidents/{incident.pk}/#panel-action-items"
    assert f"Action item added to INC-{incident.pk}: Alert on pool saturation (owner erin)." in html
    item = ActionItem.objects.get()
    assert (item.owner, item.due_date, item.type, item.priority, item.status) == (
        engineer,
        due,
        "detective",
        "high",
        "open",
    )
    assert incident.timeline.filter(kind="action_item").exists()
    assert "Detective" in html and "High" in html and due.isoformat() in html


def test_invalid_item_keeps_what_was_typed(engineer_client):
    incident = IncidentFactory()
    response = engineer_client.post(
        f"/incidents/{incident.pk}/action-items/",
        {"title": " ", "due_date": "next week", "type": "corrective", "priority": "low", "origin": "incident"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Say what should be done." in html and "Enter a valid date." in html
    assert 'value="next week"' in html and '<details class="add-item" open>' in html
    assert not ActionItem.objects.exists()


def test_invalid_item_from_the_report_re_renders_the_report(engineer_client, report):
    response = engineer_client.post(
        f"/incidents/{report.incident_id}/action-items/",
        {"title": "", "type": "corrective", "priority": "low", "origin": "report"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Incident Report:" in html and "Say what should be done." in html


def test_marking_done_and_wont_do(engineer_client, engineer):
    incident = IncidentFactory()
    done, dropped = item_for(incident, engineer, title="one"), item_for(incident, engineer, title="two")
    engineer_client.post(f"/action-items/{done.pk}/status/", {"status": "done"})
    response = engineer_client.post(
        f"/action-items/{dropped.pk}/status/", {"status": "wont_do", "next": f"/incidents/{incident.pk}/"}
    )
    assert response["Location"] == f"/incidents/{incident.pk}/"
    assert ActionItem.objects.get(pk=done.pk).status == "done"
    assert ActionItem.objects.get(pk=dropped.pk).status == "wont_do"
    assert incident.timeline.filter(kind="action_item", text__startswith="Action item done").count() == 1


def test_next_must_stay_on_this_site(engineer_client, engineer):
    item = item_for(IncidentFactory(), engineer)
    response = engineer_client.post(
        f"/action-items/{item.pk}/status/", {"status": "done", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/action-items/"


@pytest.mark.parametrize("role", ["viewer", "outsider", "anonymous"])
def test_items_cannot_be_changed_without_engineer_role(role, engineer, role_user, signed_in):
    incident = IncidentFactory()
    item = item_for(incident, engineer)
    client = signed_in(role_user(role))
    assert client.post(f"/action-items/{item.pk}/status/", {"status": "done"}).status_code in (302, 403)
    assert client.post(f"/incidents/{incident.pk}/action-items/", {"title": "x"}).status_code in (302, 403)
    assert ActionItem.objects.get(pk=item.pk).status == "open" and ActionItem.objects.count() == 1


@pytest.fixture
def board_items(engineer):
    today = timezone.localdate()
    alice = UserFactory(username="alice", role="engineer")
    checkout = IncidentFactory(services=[ServiceFactory(slug="checkout")], title="Checkout down")
    search = IncidentFactory(services=[ServiceFactory(slug="search")], title="Search slow")
    return {
        "overdue_mine": item_for(
            checkout, engineer, title="Overdue mine", owner=engineer, due_date=today - timedelta(days=2)
        ),
        "later_alice": item_for(search, engineer, title="Later alice", owner=alice, due_date=today + timedelta(days=5)),
        "done": ActionItem.objects.filter(pk=item_for(checkout, engineer, title="Closed one").pk).update(status="done"),
    }


def test_board_lists_open_items_soonest_first_with_overdue_in_words(viewer_client, board_items):
    html = viewer_client.get("/action-items/").content.decode()
    assert html.index("Overdue mine") < html.index("Later alice")
    assert "Closed one" not in html
    assert "Overdue by 2 days" in html
    assert "2 open · 1 overdue · 0 mine" in html
    assert "Done</button>" not in html and "Won't do</button>" not in html  # viewers: no buttons


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("mine=on", ["Overdue mine"], ["Later alice"]),
        ("overdue=on", ["Overdue mine"], ["Later alice"]),
        ("service=search", ["Later alice"], ["Overdue mine"]),
        ("status=done", ["Closed one"], ["Overdue mine", "Later alice"]),
        ("status=any", ["Closed one", "Overdue mine", "Later alice"], []),
    ],
)
def test_board_filters(engineer_client, board_items, query, shown, hidden):
    html = engineer_client.get(f"/action-items/?{query}").content.decode()
    for title in shown:
        assert title in html
    for title in hidden:
        assert title not in html


def test_engineer_closes_an_item_from_the_board(engineer_client, board_items):
    html = engineer_client.get("/action-items/?mine=on").content.decode()
    assert "Mark “Overdue mine” done" in html and 'name="next" value="/action-items/?mine=on"' in html
