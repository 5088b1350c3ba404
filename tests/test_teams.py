"""Teams: with TEAM_SCOPED=1 people see and act only on their teams' incidents, everywhere; off, nothing changes.

Two teams (payments: alice; search: bob) and the triage team (tina) share one instance. The 404s on single
objects are covered route by route in tests/test_permission_matrix.py; here: lists, counts, search, pages,
exports, filing, the targets file and the default (an open organisation).
"""

import io
import textwrap
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from incidents import insights, scoping
from incidents.action_items import action_item_create
from incidents.actors import Actor
from incidents.models import Incident, Service, Team
from incidents.paging.models import Delivery
from tests.conftest import client_for
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.paging.helpers import person, policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(settings):
    settings.TEAM_SCOPED = True
    payments, search = Team.objects.create(slug="payments"), Team.objects.create(slug="search")
    triage = Team.objects.create(slug=settings.TRIAGE_TEAM)
    people = {
        "alice": UserFactory(username="alice", role="engineer"),
        "bob": UserFactory(username="bob", role="manager"),
        "tina": UserFactory(username="tina", role="viewer"),
        "root": UserFactory(username="root", role="viewer", is_superuser=True),
    }
    payments.members.add(people["alice"])
    search.members.add(people["bob"])
    triage.members.add(people["tina"])
    checkout = ServiceFactory(slug="checkout", team=payments)
    finder = ServiceFactory(slug="finder", team=search)
    pager = person("paula", ("webhook", "https://hooks.example.com/paula"))
    policy("default", {"users": [pager]})
    incidents = {
        "pay": IncidentFactory(title="Checkout refuses cards", severity="P1", services=[checkout]),
        "find": IncidentFactory(title="Search returns nothing", severity="P2", services=[finder]),
        "stray": IncidentFactory(title="Disk filling on node-7", severity="P3"),
    }
    for key, incident in incidents.items():
        action_item_create(incident=incident, actor=Actor.system(), title=f"Follow up {key}")
    return {"people": people, "incidents": incidents, "services": {"checkout": checkout, "finder": finder}}


def titles(response) -> set[str]:
    return {row["title"] for row in response.json()["results"]}


def page_text(user, path: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def test_each_person_lists_only_their_teams_incidents(org):
    people = org["people"]
    assert titles(client_for(people["alice"]).get("/api/v1/incidents/")) == {"Checkout refuses cards"}
    assert titles(client_for(people["bob"]).get("/api/v1/incidents/")) == {"Search returns nothing"}
    # Unrouted incidents (no team's service) are triage's.
    assert titles(client_for(people["tina"]).get("/api/v1/incidents/")) == {"Disk filling on node-7"}
    assert len(titles(client_for(people["root"]).get("/api/v1/incidents/"))) == 3


def test_search_pages_counts_and_exports_follow_the_scope(org):
    alice, pay, find = org["people"]["alice"], org["incidents"]["pay"], org["incidents"]["find"]
    assert "Search returns nothing" not in page_text(alice, "/incidents/?q=Search")
    assert "Checkout refuses cards" in page_text(alice, "/incidents/?q=Checkout")
    dashboard = page_text(alice, "/")
    assert "Checkout refuses cards" in dashboard and "Search returns nothing" not in dashboard
    board = page_text(alice, "/action-items/")
    assert "Follow up pay" in board and "Follow up find" not in board and "Follow up stray" not in board
    api_items = client_for(alice).get("/api/v1/action-items/").json()["results"]
    assert {item["title"] for item in api_items} == {"Follow up pay"}
    deliveries = client_for(alice).get("/api/v1/deliveries/").json()["results"]
    assert deliveries and {d["incident"] for d in deliveries} == {pay.pk}
    assert find.reference not in page_text(alice, "/deliveries/")
    # Insights count what the person may see.
    figures = client_for(alice).get("/api/v1/insights/?period=30").json()
    assert figures["total"] == 1
    assert client_for(alice).get(f"/api/v1/incidents/{find.pk}/report.md").status_code == 404


def test_filing_is_for_ones_own_teams_services(org):
    alice = client_for(org["people"]["alice"])
    body = {"title": "Card tokens expire early", "severity": "P2"}
    refused = alice.post("/api/v1/incidents/", {**body, "services": ["finder"]}, format="json")
    assert refused.status_code == 400 and "Not a service of your teams: finder." in str(refused.json())
    unrouted = alice.post("/api/v1/incidents/", body, format="json")
    assert unrouted.status_code == 400 and "triage team" in str(unrouted.json())
    filed = alice.post("/api/v1/incidents/", {**body, "services": ["checkout"]}, format="json")
    assert filed.status_code == 201
    moved = alice.patch(f"/api/v1/incidents/{filed.json()['id']}/", {"services": ["finder"]}, format="json")
    assert moved.status_code == 400
    assert Incident.objects.filter(title=body["title"]).count() == 1


def test_an_open_organisation_by_default(org, settings):
    settings.TEAM_SCOPED = False
    assert len(titles(client_for(org["people"]["alice"]).get("/api/v1/incidents/"))) == 3
    assert scoping.services_check(org["people"]["alice"], [org["services"]["finder"]]) is None


def test_work_without_a_person_sees_everything(org):
    """Workers, beat and intake serve no person: sweeps, deliveries and reminders reach every incident."""
    assert Incident.objects.count() == 3
    assert Delivery.objects.count() == 3
    period = insights.Period.last_days(30, now=timezone.now())
    assert insights.insights(period=period)["total"] == 3


def test_teams_and_service_owners_come_from_the_targets_file(tmp_path, settings):
    for name in ("alice", "bob"):
        UserFactory(username=name)
    path = tmp_path / "targets.yaml"
    path.write_text(
        textwrap.dedent("""
        teams: [{slug: payments, name: Payments, members: [alice, bob]}]
        services:
          - {slug: checkout, name: Checkout, team: payments}
        """)
    )
    out = io.StringIO()
    call_command("sync_services", str(path), stdout=out)
    assert "created team payments" in out.getvalue() and "updated service checkout: team payments" in out.getvalue()
    team = Team.objects.get(slug="payments")
    assert sorted(team.members.values_list("username", flat=True)) == ["alice", "bob"]
    assert Service.objects.get(slug="checkout").team == team
    again = io.StringIO()
    call_command("sync_services", str(path), stdout=again)
    assert again.getvalue().strip().endswith("0 change(s)")
    path.write_text(path.read_text().replace("[alice, bob]", "[alice]"))
    call_command("sync_services", str(path), stdout=io.StringIO())
    assert list(team.members.values_list("username", flat=True)) == ["alice"]


def test_the_new_incident_page_says_which_services_are_not_yours(org):
    client = Client()
    client.force_login(org["people"]["alice"])
    form = client.get("/incidents/new/").content.decode()
    assert f'value="{org["services"]["checkout"].pk}"' in form  # only her teams' services are offered
    assert f'value="{org["services"]["finder"].pk}"' not in form
    data = {"title": "Card tokens expire early", "severity": "P2", "services": [org["services"]["finder"].pk]}
    response = client.post("/incidents/new/", data)
    assert response.status_code == 400 and Incident.objects.filter(title=data["title"]).count() == 0
    assert client.post("/incidents/new/", {**data, "services": [org["services"]["checkout"].pk]}).status_code == 302


def test_insights_over_settled_days_follow_the_scope_whoever_reads_first(org):
    """Days older than three are read from the shared daily rollup: a scoped read neither fills
    it with its team's figures nor reads everyone's from it."""
    days_ago = timezone.now() - timedelta(days=10)
    Incident.objects.update(detected_at=days_ago, ack_due_at=days_ago)
    today = timezone.now().date()
    query = f"/api/v1/insights/?start={today - timedelta(days=20)}&end={today - timedelta(days=5)}"
    people = org["people"]
    assert client_for(people["alice"]).get(query).json()["total"] == 1
    assert client_for(people["root"]).get(query).json()["total"] == 3
    assert client_for(people["bob"]).get(query).json()["total"] == 1
    assert client_for(people["root"]).get(query).json()["total"] == 3
