from datetime import date, timedelta

import pytest
from django.utils import timezone

from incidents.action_items import action_item_create, action_items_remind_overdue
from incidents.actors import Actor
from incidents.models import ActionItem, TimelineKind
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/action-items/"


def test_create_from_the_api_logs_on_the_timeline(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.post(
        URL,
        {
            "incident": incident.pk,
            "title": "Alert on connection pool usage above 80%",
            "owner": "erin",
            "due_date": "2026-12-31",
            "type": "detective",
            "priority": "high",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["owner"], body["incident_reference"]) == ("open", "erin", f"INC-{incident.pk}")
    entry = incident.timeline.get(kind=TimelineKind.ACTION_ITEM)
    assert "Alert on connection pool usage" in entry.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x"}, "incident"),
        ({"incident": 999999, "title": "x"}, "incident"),
        ({"title": " "}, "title"),
        ({"title": "x", "type": "decorative"}, "type"),
        ({"title": "x", "status": "maybe"}, "status"),
        ({"title": "x", "due_date": "next week"}, "due_date"),
        ({"title": "x", "owner": "ghost"}, "owner"),
    ],
)
def test_bad_input(engineer_api, body, field):
    incident = IncidentFactory()
    if field != "incident":
        body = {"incident": incident.pk, **body}
    response = engineer_api.post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert ActionItem.objects.count() == 0


def test_close_and_reopen(engineer_api):
    incident = IncidentFactory()
    item_id = engineer_api.post(URL, {"incident": incident.pk, "title": "Review pools"}, format="json").json()["id"]
    done = engineer_api.patch(f"{URL}{item_id}/", {"status": "done"}, format="json").json()
    assert done["status"] == "done" and done["completed_at"]
    reopened = engineer_api.patch(f"{URL}{item_id}/", {"status": "open"}, format="json").json()
    assert reopened["completed_at"] is None
    moved = engineer_api.patch(f"{URL}{item_id}/", {"incident": IncidentFactory().pk}, format="json")
    assert moved.status_code == 400
    assert engineer_api.delete(f"{URL}{item_id}/").status_code == 405


def test_board_filters(engineer_api, engineer, manager):
    service = ServiceFactory(slug="task-service")
    incident = IncidentFactory(services=[service])
    other = IncidentFactory()
    actor = Actor.for_user(engineer)
    today = timezone.localdate()
    mine_overdue = action_item_create(
        incident=incident, actor=actor, title="a", owner=engineer, due_date=today - timedelta(days=2)
    )
    mine_later = action_item_create(
        incident=other, actor=actor, title="b", owner=engineer, due_date=today + timedelta(days=5)
    )
    theirs = action_item_create(incident=other, actor=actor, title="c", owner=manager)

    def ids(query):
        return {row["id"] for row in engineer_api.get(URL + query).json()["results"]}

    assert ids("?mine=true") == {mine_overdue.pk, mine_later.pk}
    assert ids("?overdue=true") == {mine_overdue.pk}
    assert ids("?service=task-service") == {mine_overdue.pk}
    assert ids("?owner=mona") == {theirs.pk}
    assert ids(f"?incident={other.pk}&status=open") == {mine_later.pk, theirs.pk}
    assert engineer_api.get(URL + "?overdue=true").json()["results"][0]["overdue"] is True


def test_viewer_reads_but_cannot_write(viewer_api):
    incident = IncidentFactory()
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.post(URL, {"incident": incident.pk, "title": "x"}, format="json").status_code == 403


def test_list_query_count_is_constant(engineer_api, engineer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    actor = Actor.for_user(engineer)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert engineer_api.get(URL).status_code == 200
        return len(ctx.captured_queries)

    action_item_create(incident=IncidentFactory(), actor=actor, title="x", owner=engineer)
    engineer_api.get(URL)
    few = count()
    for i in range(30):
        action_item_create(incident=IncidentFactory(), actor=actor, title=f"x{i}", owner=engineer)
    assert count() == few


def test_overdue_reminder_once_a_day(engineer):
    incident = IncidentFactory()
    actor = Actor.for_user(engineer)
    today = date(2026, 11, 28)
    overdue = action_item_create(
        incident=incident, actor=actor, title="Add pool alert", owner=engineer, due_date=date(2026, 11, 25)
    )
    action_item_create(incident=incident, actor=actor, title="Not yet due", due_date=date(2026, 11, 30))
    closed = action_item_create(incident=incident, actor=actor, title="Done already", due_date=date(2026, 11, 1))
    ActionItem.objects.filter(pk=closed.pk).update(status="done")
    assert action_items_remind_overdue(today=today) == 1
    assert action_items_remind_overdue(today=today) == 0
    reminders = incident.timeline.filter(kind=TimelineKind.ACTION_ITEM, data__reminder=True)
    assert [r.text for r in reminders] == ["Overdue by 3 days: Add pool alert (erin)"]
    assert action_items_remind_overdue(today=today + timedelta(days=1)) == 1
    assert ActionItem.objects.get(pk=overdue.pk).last_reminded_on == today + timedelta(days=1)


def test_reminder_is_scheduled_daily(settings):
    from orion_ops.celery import app

    schedule = app.conf.beat_schedule["remind-overdue-action-items"]
    assert schedule["task"] == "incidents.tasks.remind_overdue_action_items"
    assert schedule["schedule"].hour == {settings.ACTION_ITEM_REMINDER_HOUR_UTC}
