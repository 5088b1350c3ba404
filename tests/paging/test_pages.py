"""Paging in the browser: deliveries with re-send, the profile's contact methods, on-call lines."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from incidents.models import TimelineEntry
from incidents.paging.models import ContactMethod, Delivery, Stakeholder
from tests.factories import IncidentFactory, ServiceFactory
from tests.paging.helpers import person, policy, schedule, utc

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def paged():
    alice = person("alice", ("webhook", "https://hooks.example.com/T0/secret-path"))
    policy("default", {"users": [alice]})
    return IncidentFactory(severity="P1", title="Checkout down")


def test_deliveries_page_lists_rows_without_secrets_and_viewers_cannot_resend(paged):
    viewer = person("vic", role="viewer")
    page = signed_in(viewer).get("/deliveries/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "alice" in text and "webhook: hooks.example.com" in text
    assert "secret-path" not in text
    assert "Re-send" not in text
    assert signed_in(viewer).post(f"/deliveries/{Delivery.objects.get().pk}/resend/").status_code == 403


def test_an_engineer_resends_a_failed_delivery(paged):
    Delivery.objects.update(status="failed", last_error="HTTP 500")
    engineer = signed_in(person("erin"))
    text = engineer.get("/deliveries/?status=failed").content.decode()
    assert "HTTP 500" in text and "Re-send" in text
    got = engineer.post(f"/deliveries/{Delivery.objects.get().pk}/resend/", follow=True)
    assert "Re-sending the page message to alice" in got.content.decode()
    assert Delivery.objects.filter(status="pending").count() == 1


def test_profile_adds_orders_and_removes_contact_methods():
    dave = person("dave", role="viewer")
    client = signed_in(dave)
    assert (
        client.post("/profile/", {"action": "add", "kind": "email", "address": "dave@example.com"}).status_code == 302
    )
    client.post("/profile/", {"action": "add", "kind": "ntfy", "address": "https://ntfy.example/dave"})
    bad = client.post("/profile/", {"action": "add", "kind": "webhook", "address": "not a url"})
    assert bad.status_code == 200 and "Enter a valid URL." in bad.content.decode()
    ntfy = ContactMethod.objects.get(kind="ntfy")
    client.post("/profile/", {"action": "up", "method": ntfy.pk})
    assert list(ContactMethod.objects.filter(user=dave).values_list("kind", flat=True)) == ["ntfy", "email"]
    client.post("/profile/", {"action": "remove", "method": ntfy.pk})
    assert list(ContactMethod.objects.filter(user=dave).values_list("kind", flat=True)) == ["email"]
    other = person("erin", ("email", "erin@example.com"))
    client.post("/profile/", {"action": "remove", "method": other.contact_methods.get().pk})
    assert other.contact_methods.count() == 1  # nobody edits another person's methods


def test_profile_makes_calendar_links_once():
    dave = person("dave", role="viewer")
    schedule(participants=["dave"])
    page = signed_in(dave).post("/profile/", {"action": "calendar"})
    text = page.content.decode()
    assert "/api/v1/schedules/" in text and "?token=" in text
    token = text.split("?token=")[1].split("<")[0]
    assert signed_in(dave).get("/profile/").content.decode().count(token) == 0


def test_service_page_and_dashboard_say_who_is_on_call(settings):
    settings.TIME_ZONE = "UTC"
    for name in ("alice", "bob"):
        person(name)
    primary = schedule(participants=["alice", "bob"], handoff=utc(2020, 1, 6, 9, 0))
    svc = ServiceFactory(slug="payments")
    policy("payments", {"schedule": primary}, is_default=False, services=[svc])
    viewer = signed_in(person("vic", role="viewer"))
    services = viewer.get("/services/").content.decode()
    assert "On call: <strong>" in services
    dashboard = viewer.get("/").content.decode()
    assert "On call (primary): <strong>" in dashboard
    assert "until <time" in dashboard
    assert 'href="/deliveries/"' in dashboard


def test_the_services_page_reads_every_cards_on_call_at_once(django_assert_max_num_queries):
    for name in ("alice", "bob"):
        person(name)
    default = schedule("fallback", participants=["bob"])
    policy("default", {"schedule": default})
    viewer = signed_in(person("vic", role="viewer"))

    def add_services(first: int, count: int) -> None:
        for i in range(first, first + count):
            svc = ServiceFactory(slug=f"svc-{i}")
            if i % 2:  # every other service has a policy and schedule of its own; the rest use the default
                own = schedule(f"rota-{i}", participants=["alice"])
                policy(f"svc-{i}", {"schedule": own}, is_default=False, services=[svc])

    add_services(0, 2)
    with CaptureQueriesContext(connection) as few:
        page = viewer.get("/services/").content.decode()
    assert page.count("On call: <strong>alice</strong>") == 1 and page.count("On call: <strong>bob</strong>") == 1
    add_services(2, 6)
    with django_assert_max_num_queries(len(few)):
        page = viewer.get("/services/").content.decode()
    assert page.count("On call: <strong>alice</strong>") == 4 and page.count("On call: <strong>bob</strong>") == 4


def test_incident_page_shows_the_escalation_and_takes_a_status_update(paged):
    svc = ServiceFactory(slug="task-service")
    paged.services.add(svc)
    Stakeholder.objects.create(service=svc, user=person("dave", ("email", "dave@example.com"), role="viewer"))
    engineer = signed_in(person("erin"))
    page = engineer.get(f"/incidents/{paged.pk}/").content.decode()
    assert "Escalation <strong>default</strong>: finished." in page  # one step, fired at open
    assert "page (page) → alice" in page
    assert "Send update" in page
    got = engineer.post(f"/incidents/{paged.pk}/status-updates/", {"text": "Rolled back"}, follow=True)
    assert "Status update posted to the timeline and sent to dave." in got.content.decode()
    assert TimelineEntry.objects.filter(incident=paged, kind="status_update", text="Rolled back").exists()
    blank = engineer.post(f"/incidents/{paged.pk}/status-updates/", {"text": " "}, follow=True)
    assert "A note cannot be blank." in blank.content.decode()
    viewer = signed_in(person("vic", role="viewer"))
    assert "Send update" not in viewer.get(f"/incidents/{paged.pk}/").content.decode()
    assert viewer.post(f"/incidents/{paged.pk}/status-updates/", {"text": "x"}).status_code == 403


def test_a_person_subscribes_to_a_service_and_hears_its_updates():
    checkout = ServiceFactory(slug="checkout", name="Checkout")
    ServiceFactory(slug="search", name="Search")
    dave = person("dave", ("email", "dave@example.com"), role="viewer")
    client = signed_in(dave)
    page = client.get("/profile/").content.decode()
    assert 'aria-label="Subscribe to Checkout"' in page and 'aria-label="Subscribe to Search"' in page
    got = client.post("/profile/", {"action": "subscribe", "service": "checkout"}, follow=True).content.decode()
    assert "You will get status updates on Checkout" in got
    assert 'aria-label="Unsubscribe from Checkout"' in got
    client.post("/profile/", {"action": "subscribe", "service": "checkout"})  # twice: still one row
    assert Stakeholder.objects.filter(service=checkout, user=dave, self_subscribed=True).count() == 1
    incident = IncidentFactory(severity="P2", services=[checkout])
    assert list(Delivery.objects.filter(incident=incident, purpose="update").values_list("event", "recipient")) == [
        ("opened", "dave")
    ]
    client.post("/profile/", {"action": "unsubscribe", "service": "checkout"})
    assert not Stakeholder.objects.filter(user=dave).exists()
    assert client.post("/profile/", {"action": "subscribe", "service": "nope"}, follow=True).status_code == 200
    assert not Stakeholder.objects.filter(user=dave).exists()


def test_a_configured_stakeholder_cannot_unsubscribe_on_the_page():
    checkout = ServiceFactory(slug="checkout", name="Checkout")
    dave = person("dave", role="viewer")
    Stakeholder.objects.create(service=checkout, user=dave)  # as sync_services writes it
    client = signed_in(dave)
    assert "listed by the service configuration" in client.get("/profile/").content.decode()
    got = client.post("/profile/", {"action": "unsubscribe", "service": "checkout"}, follow=True).content.decode()
    assert "The service configuration lists you for Checkout" in got
    assert Stakeholder.objects.filter(service=checkout, user=dave).exists()
