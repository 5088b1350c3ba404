"""The targets file's paging keys: ``people``, ``channels``, ``schedules``, ``default_escalation`` and, per
service, ``stakeholders`` and ``escalation`` (shapes in shared DESIGN and docs/paging.md).

Validated with the rest of the file (path-style errors, every problem at once);
applied in ``diagnostics.sync.apply``'s transaction, changing only what differs.
References (a schedule in a step, a channel of a stakeholder) name an entry of
the same file or one already stored; usernames name active users.
"""

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from pydantic import BeforeValidator, Field, ValidationInfo

from diagnostics.targets import SLUG, EnvName, Loc, Section, Slug, refuse
from incidents.models import Service, Team
from incidents.paging.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Rotation,
    Schedule,
    ScheduleOverride,
    Stakeholder,
)

CONTACT_KINDS = ("email", "webhook", "slack", "ntfy")
SHIFT = re.compile(r"([1-9][0-9]*)([hdw])")
SHIFT_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _user(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value:
        raise refuse("must be a username")
    usernames = (info.context or {}).get("usernames")
    if usernames is not None and value not in usernames:
        raise refuse(f"no active user named {value!r}")
    return value


def _reference(kind: str):
    def check(value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            raise refuse(f"must be the slug of a {kind}")
        known = (info.context or {}).get(f"{kind}s")
        if known is not None and value not in known:
            raise refuse(f"no {kind} {value!r} in this file or stored")
        return value

    return BeforeValidator(check)


def _list(what: str, *, non_empty: bool = False):
    def check(value: Any) -> list:
        if not isinstance(value, list):
            raise refuse(f"must be a list of {what}")
        if non_empty and not value:
            raise refuse(f"must list at least one {what.rstrip('s')}")
        return value

    return BeforeValidator(check)


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 500:
        raise refuse("must be an http:// or https:// URL")
    return value


def _email(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.fullmatch(value) or len(value) > 254:
        raise refuse("must be an email address")
    return value


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(value) if isinstance(value, str) and value else None
    except (ZoneInfoNotFoundError, ValueError):
        raise refuse(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    if not isinstance(value, str) or not value:
        raise refuse("required: an IANA time zone such as Europe/Berlin")
    return value


def _shift(value: Any) -> int:
    match = SHIFT.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise refuse('must be a length such as "12h", "1d" or "1w"')
    return int(match[1]) * SHIFT_UNITS[match[2]]


def _local_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None).isoformat()
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        raise refuse('must be a local time such as "2026-12-07T09:00" (the schedule\'s time zone applies)')
    return parsed


def _non_negative(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 10_080:
        raise refuse("must be a whole number from 0 to 10080")
    return value


def _repeat(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise refuse("must be a whole number from 0 to 10")
    return value


User = Annotated[str, BeforeValidator(_user)]


class ContactEntry(Section):
    null_is_absent = True
    email: Annotated[str, BeforeValidator(_email)] | None = None
    webhook: Annotated[str, BeforeValidator(_url)] | None = None
    slack: Annotated[str, BeforeValidator(_url)] | None = None
    ntfy: Annotated[str, BeforeValidator(_url)] | None = None

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a mapping with one of: email, webhook, slack, ntfy"

    @classmethod
    def unknown_key(cls, key: Any) -> str:
        return "unknown contact method (use email, webhook, slack or ntfy)"

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        given = [k for k in CONTACT_KINDS if data.get(k) is not None]
        return [] if len(given) == 1 else [((), "give exactly one of email, webhook, slack, ntfy")]

    def kind_address(self) -> tuple[str, str]:
        return next((k, getattr(self, k)) for k in CONTACT_KINDS if getattr(self, k) is not None)


class PersonEntry(Section):
    username: User = Field(None, validate_default=True)
    contacts: Annotated[list[ContactEntry], _list("contact methods")] = Field(default_factory=list)


class ChannelEntry(Section):
    null_is_absent = True
    slug: Slug = Field(None, validate_default=True)
    kind: str | None = None
    url_env: EnvName | None = None
    address: Annotated[str, BeforeValidator(_email)] | None = None

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        kind = data.get("kind")
        if kind not in CONTACT_KINDS:
            return [(("kind",), "required: one of email, webhook, slack, ntfy")]
        if kind == "email" and not data.get("address"):
            return [(("address",), "required for an email channel")]
        if kind != "email" and not data.get("url_env"):
            return [(("url_env",), "required: the variable holding the URL (URLs are secrets)")]
        return []


class RotationEntry(Section):
    participants: Annotated[list[User], _list("usernames", non_empty=True)] = Field(None, validate_default=True)
    shift: Annotated[int, BeforeValidator(_shift)] = Field(None, validate_default=True)
    handoff: Annotated[datetime, BeforeValidator(_local_time)] = Field(None, validate_default=True)


class OverrideEntry(Section):
    user: User = Field(None, validate_default=True)
    start: Annotated[datetime, BeforeValidator(_local_time)] = Field(None, validate_default=True)
    end: Annotated[datetime, BeforeValidator(_local_time)] = Field(None, validate_default=True)

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        try:
            start, end = _local_time(data.get("start")), _local_time(data.get("end"))
        except Exception:
            return []
        return [] if end > start else [(("end",), "must be after start")]


def _span(entry: Any) -> tuple[datetime, datetime] | None:
    try:
        return _local_time(entry.get("start")), _local_time(entry.get("end"))
    except Exception:
        return None


class ScheduleEntry(Section):
    null_is_absent = True
    slug: Slug = Field(None, validate_default=True)
    name: str | None = None
    time_zone: Annotated[str, BeforeValidator(_time_zone)] = Field(None, validate_default=True)
    rotations: Annotated[list[RotationEntry], _list("rotations", non_empty=True)] = Field(None, validate_default=True)
    overrides: Annotated[list[OverrideEntry], _list("overrides")] = Field(default_factory=list)

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        overrides = data.get("overrides")
        if not isinstance(overrides, list):
            return []
        spans = [(i, s) for i, o in enumerate(overrides) if isinstance(o, dict) and (s := _span(o))]
        problems = []
        for n, (i, (start, end)) in enumerate(spans):
            for j, (other_start, other_end) in spans[:n]:
                if start < other_end and other_start < end:
                    problems.append((("overrides", i), f"overlaps overrides[{j}]"))
                    break
        return problems


class NotifyEntry(Section):
    null_is_absent = True
    schedule: Annotated[str, _reference("schedule")] | None = None
    users: Annotated[list[User], _list("usernames", non_empty=True)] | None = None
    channel: Annotated[str, _reference("channel")] | None = None

    @classmethod
    def not_a_mapping(cls) -> str:
        return "required: a mapping with one of schedule, users, channel"

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        given = [k for k in ("schedule", "users", "channel") if data.get(k) is not None]
        return [] if len(given) == 1 else [((), "give exactly one of schedule, users, channel")]


class StepEntry(Section):
    null_is_absent = True
    notify: NotifyEntry = Field(None, validate_default=True)
    wait_minutes: Annotated[int, BeforeValidator(_non_negative)] | None = None


class EscalationEntry(Section):
    null_is_absent = True
    repeat: Annotated[int, BeforeValidator(_repeat)] = 0
    steps: Annotated[list[StepEntry], _list("steps", non_empty=True)] = Field(None, validate_default=True)


class StakeholderEntry(Section):
    null_is_absent = True
    user: User | None = None
    channel: Annotated[str, _reference("channel")] | None = None

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        given = [k for k in ("user", "channel") if data.get(k) is not None]
        return [] if len(given) == 1 else [((), "give exactly one of user, channel")]


def duplicates(items: Any, key: str, section: str) -> list[tuple[Loc, str]]:
    if not isinstance(items, list):
        return []
    seen: dict[str, int] = {}
    problems: list[tuple[Loc, str]] = []
    for i, item in enumerate(items):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str):
            if value in seen:
                problems.append(((section, i, key), f"duplicate of {section}[{seen[value]}]"))
            else:
                seen[value] = i
    return problems


def context(document: Any) -> dict:
    """What references may name: the file's own schedules, channels and teams, and those already stored."""
    document = document if isinstance(document, dict) else {}

    def slugs(key: str) -> set[str]:
        items = document.get(key)
        return (
            {i["slug"] for i in items if isinstance(i, dict) and isinstance(i.get("slug"), str)}
            if isinstance(items, list)
            else set()
        )

    return {
        "schedules": slugs("schedules") | set(Schedule.objects.values_list("slug", flat=True)),
        "channels": slugs("channels") | set(Channel.objects.values_list("slug", flat=True)),
        "teams": slugs("teams") | set(Team.objects.values_list("slug", flat=True)),
    }


# Applying ------------------------------------------------------------------------------------------


def _users(names) -> dict:
    return {u.get_username(): u for u in get_user_model().objects.filter(username__in=list(names))}


def people_apply(people: list[PersonEntry]) -> list[str]:
    changes = []
    users = _users(p.username for p in people)
    for person in people:
        user = users[person.username]
        wanted = [c.kind_address() for c in person.contacts]
        current = list(
            ContactMethod.objects.filter(user=user).order_by("position", "id").values_list("kind", "address")
        )
        if current != wanted:
            ContactMethod.objects.filter(user=user).delete()
            for position, (kind, address) in enumerate(wanted):
                ContactMethod.objects.create(user=user, position=position, kind=kind, address=address)
            changes.append(f"updated contact methods of {person.username}")
    return changes


def channels_apply(channels: list[ChannelEntry]) -> list[str]:
    changes = []
    for entry in channels:
        values = {"kind": entry.kind, "url_env": entry.url_env or "", "address": entry.address or ""}
        channel = Channel.objects.filter(slug=entry.slug).first()
        if channel is None:
            Channel.objects.create(slug=entry.slug, **values)
            changes.append(f"created channel {entry.slug}")
        elif any(getattr(channel, k) != v for k, v in values.items()):
            Channel.objects.filter(pk=channel.pk).update(**values)
            changes.append(f"updated channel {entry.slug}")
    return changes


def schedules_apply(schedules: list[ScheduleEntry]) -> list[str]:
    changes = []
    users = _users(
        {n for s in schedules for r in s.rotations for n in r.participants}
        | {o.user for s in schedules for o in s.overrides}
    )
    for entry in schedules:
        tz = ZoneInfo(entry.time_zone)
        rotations = [(r.participants, r.shift, r.handoff.replace(tzinfo=tz)) for r in entry.rotations]
        overrides = [(o.user, o.start.replace(tzinfo=tz), o.end.replace(tzinfo=tz)) for o in entry.overrides]
        schedule = Schedule.objects.filter(slug=entry.slug).first()
        if schedule is None:
            schedule = Schedule.objects.create(slug=entry.slug, name=entry.name or "", time_zone=entry.time_zone)
            changes.append(f"created schedule {entry.slug}")
        elif (schedule.name, schedule.time_zone) != (entry.name or schedule.name, entry.time_zone):
            schedule.name, schedule.time_zone = entry.name or schedule.name, entry.time_zone
            schedule.save(update_fields=["name", "time_zone"])
            changes.append(f"updated schedule {entry.slug}")
        current_rotations = [
            (r.participants, r.shift_seconds, r.handoff) for r in schedule.rotations.order_by("position", "id")
        ]
        if current_rotations != rotations:
            schedule.rotations.all().delete()
            for position, (participants, shift, handoff) in enumerate(rotations):
                Rotation.objects.create(
                    schedule=schedule,
                    position=position,
                    participants=participants,
                    shift_seconds=shift,
                    handoff=handoff,
                )
            changes.append(f"updated rotations of schedule {entry.slug}")
        current_overrides = [(o.user.get_username(), o.start, o.end) for o in schedule.overrides.select_related("user")]
        if sorted(current_overrides) != sorted(overrides):
            schedule.overrides.all().delete()
            for username, start, end in overrides:
                ScheduleOverride.objects.create(schedule=schedule, user=users[username], start=start, end=end)
            changes.append(f"updated overrides of schedule {entry.slug}")
    return changes


def policy_apply(slug: str, entry: EscalationEntry, *, service: Service | None) -> list[str]:
    """The policy of a service (``service-<slug>``), or the default policy (``default``)."""
    wanted = [(s.notify.schedule, sorted(s.notify.users or []), s.notify.channel, s.wait_minutes) for s in entry.steps]
    policy = EscalationPolicy.objects.filter(slug=slug).first()
    changes = []
    if policy is None:
        if service is None:
            EscalationPolicy.objects.filter(is_default=True).update(is_default=False)
        policy = EscalationPolicy.objects.create(slug=slug, repeat=entry.repeat, is_default=service is None)
        changes.append(f"created escalation policy {slug}")
    elif policy.repeat != entry.repeat:
        policy.repeat = entry.repeat
        policy.save(update_fields=["repeat", "updated_at"])
        changes.append(f"updated escalation policy {slug}: repeat")
    current = [
        (
            s.schedule.slug if s.schedule else None,
            sorted(u.get_username() for u in s.users.all()),
            s.channel.slug if s.channel else None,
            s.wait_minutes,
        )
        for s in policy.steps.select_related("schedule", "channel").prefetch_related("users")
    ]
    if current != wanted:
        policy.steps.all().delete()
        schedules = {s.slug: s for s in Schedule.objects.all()}
        channels = {c.slug: c for c in Channel.objects.all()}
        for position, (schedule, usernames, channel, wait) in enumerate(wanted):
            step = EscalationStep.objects.create(
                policy=policy,
                position=position,
                schedule=schedules.get(schedule) if schedule else None,
                channel=channels.get(channel) if channel else None,
                wait_minutes=wait,
            )
            step.users.set(_users(usernames).values())
        policy.save(update_fields=["updated_at"])
        changes.append(f"updated steps of escalation policy {slug}")
    if service is not None and list(policy.services.all()) != [service]:
        policy.services.set([service])
        changes.append(f"escalation policy {slug} now applies to {service.slug}")
    return changes


def stakeholders_apply(service: Service, entries: list[StakeholderEntry]) -> list[str]:
    """Make the configured stakeholders exactly ``entries``; people who subscribed themselves stay."""
    wanted = {("user", e.user) if e.user else ("channel", e.channel) for e in entries}
    configured = Stakeholder.objects.filter(service=service, self_subscribed=False)
    current = {
        ("user", s.user.get_username()) if s.user_id else ("channel", s.channel.slug)
        for s in configured.select_related("user", "channel")
    }
    if wanted == current:
        return []
    configured.delete()
    users = _users(name for kind, name in wanted if kind == "user")
    channels = {
        c.slug: c for c in Channel.objects.filter(slug__in=[name for kind, name in wanted if kind == "channel"])
    }
    for kind, name in sorted(wanted):
        if kind == "user":
            # A self-subscribed row becomes the configured one (one row per person and service).
            Stakeholder.objects.update_or_create(service=service, user=users[name], defaults={"self_subscribed": False})
        else:
            Stakeholder.objects.create(service=service, channel=channels[name])
    return [f"updated stakeholders of {service.slug}"]
