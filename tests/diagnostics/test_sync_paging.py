"""sync_services with people, channels, schedules, stakeholders and escalation: idempotent, path-style errors."""

import io
import textwrap
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents.paging.models import Channel, ContactMethod, EscalationPolicy, Schedule, ScheduleOverride, Stakeholder
from incidents.paging.oncall import oncall
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGING = """
people:
  - {username: alice, contacts: [{email: alice@example.com}, {ntfy: "https://ntfy.example/alice-pages"}]}
channels:
  - {slug: ops-room, kind: slack, url_env: ORION_TARGET_OPS_SLACK}
schedules:
  - slug: primary
    time_zone: Europe/Berlin
    rotations: [{participants: [alice, bob], shift: 1w, handoff: "2026-12-07T09:00"}]
    overrides: [{user: carol, start: "2026-12-24T00:00", end: "2026-12-26T00:00"}]
default_escalation:
  steps: [{notify: {channel: ops-room}}]
services:
  - slug: task-service
    name: Task service
    stakeholders: [{user: dave}, {channel: ops-room}]
    escalation:
      repeat: 1
      steps: [{notify: {schedule: primary}, wait_minutes: 5}, {notify: {users: [carol]}}, {notify: {channel: ops-room}}]
"""


@pytest.fixture(autouse=True)
def people():
    for name in ("alice", "bob", "carol", "dave"):
        UserFactory(username=name)


def sync(tmp_path, text: str, *args: str) -> tuple[str, str]:
    path = tmp_path / "targets.yaml"
    path.write_text(textwrap.dedent(text))
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_services", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot() -> list:
    return [
        list(ContactMethod.objects.values_list("user__username", "position", "kind", "address")),
        list(Channel.objects.values_list("slug", "kind", "url_env")),
        list(Schedule.objects.values_list("slug", "time_zone", "rotations__participants", "rotations__handoff")),
        list(ScheduleOverride.objects.values_list("user__username", "start", "end")),
        list(Stakeholder.objects.values_list("service__slug", "user__username", "channel__slug").order_by("id")),
        [
            (p.slug, p.is_default, p.repeat, [s.slug for s in p.services.all()], p.steps.count())
            for p in EscalationPolicy.objects.all()
        ],
    ]


def test_paging_keys_round_trip_idempotently(tmp_path):
    out, _ = sync(tmp_path, PAGING)
    assert "created schedule primary" in out
    assert "created escalation policy service-task-service" in out
    first = snapshot()
    out, _ = sync(tmp_path, PAGING)
    assert out.strip().endswith("1 service(s) in " + str(tmp_path / "targets.yaml") + "; 0 change(s)")
    assert snapshot() == first
    assert list(ContactMethod.objects.values_list("kind", flat=True)) == ["email", "ntfy"]
    policy = EscalationPolicy.objects.get(slug="service-task-service")
    assert policy.repeat == 1 and policy.steps.count() == 3
    assert EscalationPolicy.objects.get(is_default=True).slug == "default"
    schedule = Schedule.objects.get()
    # 09:00 in Berlin (winter) is 08:00 UTC; carol covers Christmas.
    assert schedule.rotations.get().handoff == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert oncall(schedule, at=datetime(2026, 12, 24, 12, 0, tzinfo=UTC)).users == ["carol"]


def test_a_changed_rotation_is_applied_and_reported(tmp_path):
    sync(tmp_path, PAGING)
    out, _ = sync(tmp_path, PAGING.replace("[alice, bob]", "[bob, alice]"))
    assert "updated rotations of schedule primary" in out
    assert Schedule.objects.get().rotations.get().participants == ["bob", "alice"]


def test_sync_keeps_people_who_subscribed_themselves(tmp_path):
    sync(tmp_path, PAGING)
    service = Stakeholder.objects.get(user__username="dave").service
    alice = Stakeholder.objects.create(service=service, user=UserFactory._meta.model.objects.get(username="alice"),
                                       self_subscribed=True)  # fmt: skip
    out, _ = sync(tmp_path, PAGING.replace("[{user: dave}, {channel: ops-room}]", "[{channel: ops-room}]"))
    assert "updated stakeholders of task-service" in out
    assert Stakeholder.objects.filter(pk=alice.pk, self_subscribed=True).exists()  # not the file's to remove
    assert not Stakeholder.objects.filter(user__username="dave").exists()
    # Listing a self-subscribed person in the file makes the row the configuration's: one row, not two.
    sync(tmp_path, PAGING.replace("[{user: dave}, {channel: ops-room}]", "[{user: alice}, {channel: ops-room}]"))
    assert list(Stakeholder.objects.filter(user__username="alice").values_list("self_subscribed", flat=True)) == [False]


BAD = """
people:
  - {username: zed, contacts: [{email: not-an-address}, {pager: x}, {email: a@example.com, ntfy: "https://n/x"}]}
channels:
  - {slug: ops-room, kind: slack, url: "https://hooks.slack.com/T0/XYZZY"}
  - {slug: mail, kind: email}
schedules:
  - slug: primary
    time_zone: Mars/Olympus
    rotations: []
  - slug: secondary
    time_zone: UTC
    rotations: [{participants: [alice, nobody], shift: 1y, handoff: "2026-12-07T09:00+01:00"}]
    overrides:
      - {user: carol, start: "2026-12-24T00:00", end: "2026-12-26T00:00"}
      - {user: dave, start: "2026-12-25T00:00", end: "2026-12-27T00:00"}
      - {user: dave, start: "2026-12-28T00:00", end: "2026-12-27T00:00"}
services:
  - slug: task-service
    name: Task service
    stakeholders: [{user: dave, channel: ops-room}, {channel: nowhere}]
    escalation:
      repeat: 11
      steps: [{notify: {schedule: tertiary}}, {notify: {}}, {wait_minutes: -1}]
"""


def test_every_paging_error_has_its_path_and_nothing_changes(tmp_path):
    with pytest.raises(CommandError):
        sync(tmp_path, BAD)
    path = tmp_path / "targets.yaml"
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync_services", str(path), stdout=io.StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    expected = [
        "people[0].username: no active user named 'zed'",
        "people[0].contacts[0].email: must be an email address",
        "people[0].contacts[1].pager: unknown contact method (use email, webhook, slack or ntfy)",
        "people[0].contacts[2]: give exactly one of email, webhook, slack, ntfy",
        "channels[0].url: unknown key",
        "channels[0].url_env: required: the variable holding the URL (URLs are secrets)",
        "channels[1].address: required for an email channel",
        "schedules[0].time_zone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)",
        "schedules[0].rotations: must list at least one rotation",
        "schedules[1].rotations[0].participants[1]: no active user named 'nobody'",
        'schedules[1].rotations[0].shift: must be a length such as "12h", "1d" or "1w"',
        "schedules[1].rotations[0].handoff: must be a local time such as "
        '"2026-12-07T09:00" (the schedule\'s time zone applies)',
        "schedules[1].overrides[1]: overlaps overrides[0]",
        "schedules[1].overrides[2].end: must be after start",
        "services[0].stakeholders[0]: give exactly one of user, channel",
        "services[0].stakeholders[1].channel: no channel 'nowhere' in this file or stored",
        "services[0].escalation.repeat: must be a whole number from 0 to 10",
        "services[0].escalation.steps[0].notify.schedule: no schedule 'tertiary' in this file or stored",
        "services[0].escalation.steps[1].notify: give exactly one of schedule, users, channel",
        "services[0].escalation.steps[2].notify: required: a mapping with one of schedule, users, channel",
        "services[0].escalation.steps[2].wait_minutes: must be a whole number from 0 to 10080",
    ]
    missing = [line for line in expected if line not in lines]
    assert missing == [], lines
    assert "XYZZY" not in err.getvalue()
    assert snapshot() == [[], [], [], [], [], []]
