"""Services and their targets as configuration: the targets file's schema, and applying it.

The file is validated as a whole by declared models (``TargetsFile`` below, the
target kinds in ``diagnostics.targets``): every error is reported with its path
(``services[0].targets.postgres.dsn_env: required``) before anything is
written. Applying happens in one transaction and changes only what differs, so
running the same file twice changes nothing the second time.

To extend the file, add a field to the model it belongs to: a top-level list
(``teams: list[TeamEntry] = []``) to ``TargetsFile``, a per-service key to
``ServiceEntry``. A new model derives from ``Section``, which refuses unknown
keys and lists every problem at once; rules across keys or entries (a
reference to another entry, no duplicates) go in its ``cross_check``.
"""

from typing import Annotated, Any

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo

from diagnostics import sync_paging
from diagnostics.models import Target
from diagnostics.sync_paging import (
    ChannelEntry,
    EscalationEntry,
    PersonEntry,
    ScheduleEntry,
    StakeholderEntry,
)
from diagnostics.targets import SLUG, Errors, Loc, Section, Slug, Targets, error_list, refuse, target_name
from incidents.models import Service, Team


class SyncError(Exception):
    def __init__(self, errors: Errors):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


# Schema -------------------------------------------------------------------------------------------


def _service_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refuse("required")
    return value.strip()


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise refuse("must be text")
    return value


def _list_of(what: str):
    def check(value: Any) -> list:
        if not isinstance(value, list):
            raise refuse(f"must be a list of {what}")
        return value

    return BeforeValidator(check)


def _active_user(value: Any, info: ValidationInfo) -> str:
    """Checked when the caller passes the active usernames as ``context={"usernames": …}``."""
    usernames = (info.context or {}).get("usernames")
    if usernames is not None and value not in usernames:
        raise refuse(f"no active user named {value!r}")
    return value


def _services(value: Any) -> list:
    if value is None:
        raise refuse("required: a list of services")
    if not isinstance(value, list):
        raise refuse("must be a list of services")
    return value


Owner = Annotated[str, BeforeValidator(_active_user)]


class TeamEntry(Section):
    """A team: ``slug``, an optional ``name`` and its ``members`` (usernames, exactly these)."""

    null_is_absent = True

    slug: Slug = Field(None, validate_default=True)
    name: Annotated[str, BeforeValidator(_text)] | None = None
    members: Annotated[list[Owner], _list_of("usernames")] = Field(default_factory=list)


class ServiceEntry(Section):
    """One service: ``slug`` and ``name``, its ``owners`` (usernames) and its ``targets``.

    An absent ``description`` or ``owners`` leaves the stored one as it is; an
    absent ``targets`` means the service has none.
    """

    null_is_absent = True

    slug: Slug = Field(None, validate_default=True)
    name: Annotated[str, BeforeValidator(_service_name)]
    description: Annotated[str, BeforeValidator(_text)] | None = None
    owners: Annotated[list[Owner], _list_of("usernames")] | None = None
    targets: Targets = Field(default_factory=Targets)
    # The team that owns it (absent leaves the stored one).
    team: Annotated[str, sync_paging._reference("team")] | None = None
    # Paging (diagnostics.sync_paging): absent leaves what is stored.
    stakeholders: Annotated[list[StakeholderEntry], _list_of("stakeholders")] | None = None
    escalation: EscalationEntry | None = None

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a mapping with slug, name and targets"


class TargetsFile(Section):
    """The whole file. Every key of it is a field here; any other key is refused."""

    services: Annotated[list[ServiceEntry], BeforeValidator(_services)] = Field(None, validate_default=True)
    # Paging (diagnostics.sync_paging).
    people: Annotated[list[PersonEntry], _list_of("people")] = Field(default_factory=list)
    channels: Annotated[list[ChannelEntry], _list_of("channels")] = Field(default_factory=list)
    schedules: Annotated[list[ScheduleEntry], _list_of("schedules")] = Field(default_factory=list)
    default_escalation: EscalationEntry | None = None
    teams: Annotated[list[TeamEntry], _list_of("teams")] = Field(default_factory=list)

    @classmethod
    def not_a_mapping(cls) -> str:
        return "must be a mapping with services (a list of services)"

    @classmethod
    def unknown_key(cls, key: Any) -> str:
        return f"unknown key (the file's keys are: {', '.join(cls.model_fields)})"

    @classmethod
    def cross_check(cls, data: dict) -> list[tuple[Loc, str]]:
        services = data.get("services")
        if not isinstance(services, list):
            return []
        problems: list[tuple[Loc, str]] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(services):
            slug = item.get("slug") if isinstance(item, dict) else None
            if not isinstance(slug, str) or not SLUG.fullmatch(slug):
                continue
            if slug in seen:
                problems.append((("services", i, "slug"), f"duplicate of services[{seen[slug]}]"))
            else:
                seen[slug] = i
        problems += sync_paging.duplicates(data.get("people"), "username", "people")
        problems += sync_paging.duplicates(data.get("channels"), "slug", "channels")
        problems += sync_paging.duplicates(data.get("schedules"), "slug", "schedules")
        problems += sync_paging.duplicates(data.get("teams"), "slug", "teams")
        return problems


def parse(text: str) -> TargetsFile:
    """The services a targets file describes; SyncError lists every problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise SyncError([(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    usernames = set(get_user_model().objects.filter(is_active=True).values_list("username", flat=True))
    try:
        return TargetsFile.model_validate(
            {} if document is None else document,
            context={"usernames": usernames, **sync_paging.context(document)},
        )
    except ValidationError as exc:
        raise SyncError([(path or "file", message) for path, message in error_list(exc)]) from None


def apply(file: TargetsFile, *, prune: bool = False, dry_run: bool = False) -> list[str]:
    """Make the database match ``file``; returns one line per change. Nothing is written on a dry run."""
    changes: list[str] = []
    with transaction.atomic():
        changes.extend(sync_paging.people_apply(file.people))
        changes.extend(sync_paging.channels_apply(file.channels))
        changes.extend(sync_paging.schedules_apply(file.schedules))
        changes.extend(_apply_teams(file.teams))
        if file.default_escalation is not None:
            changes.extend(sync_paging.policy_apply("default", file.default_escalation, service=None))
        for entry in file.services:
            changes.extend(_apply_service(entry))
        if prune:
            stale = Service.objects.exclude(slug__in=[entry.slug for entry in file.services]).order_by("slug")
            blocked = [s.slug for s in stale if s.incidents.exists()]
            if blocked:
                transaction.set_rollback(True)
                raise SyncError(
                    [
                        ("--prune", f"service {slug} has incidents and cannot be removed; keep it in the file")
                        for slug in blocked
                    ]
                )
            for service in stale:
                changes.append(f"deleted service {service.slug}")
                service.delete()
        if dry_run:
            transaction.set_rollback(True)
    return changes


def _apply_teams(teams: list[TeamEntry]) -> list[str]:
    changes = []
    for entry in teams:
        team, created = Team.objects.get_or_create(slug=entry.slug, defaults={"name": entry.name or ""})
        if created:
            changes.append(f"created team {entry.slug}")
        elif entry.name is not None and team.name != entry.name:
            team.name = entry.name
            team.save(update_fields=["name"])
            changes.append(f"updated team {entry.slug}: name")
        if set(team.members.values_list("username", flat=True)) != set(entry.members):
            team.members.set(get_user_model().objects.filter(username__in=entry.members))
            changes.append(f"updated team {entry.slug}: members")
    return changes


def _apply_service(spec: ServiceEntry) -> list[str]:
    changes = []
    service = Service.objects.filter(slug=spec.slug).first()
    if service is None:
        service = Service.objects.create(slug=spec.slug, name=spec.name, description=spec.description or "")
        changes.append(f"created service {spec.slug}")
    else:
        changed = []
        if service.name != spec.name:
            service.name = spec.name
            changed.append("name")
        if spec.description is not None and service.description != spec.description:
            service.description = spec.description
            changed.append("description")
        if changed:
            service.save(update_fields=[*changed, "updated_at"])
            changes.append(f"updated service {spec.slug}: {', '.join(changed)}")
    if spec.team is not None and (service.team is None or service.team.slug != spec.team):
        service.team = Team.objects.get(slug=spec.team)
        service.save(update_fields=["team", "updated_at"])
        changes.append(f"updated service {spec.slug}: team {spec.team}")
    if spec.owners is not None:
        current = set(service.owners.values_list("username", flat=True))
        if current != set(spec.owners):
            service.owners.set(get_user_model().objects.filter(username__in=spec.owners))
            changes.append(f"updated service {spec.slug}: owners")

    existing = {t.kind: t for t in Target.objects.filter(service=service)}
    for kind, settings in spec.targets.items():
        name, config = target_name(settings, spec.slug), settings.config()
        current = existing.pop(kind, None)
        if current is None:
            Target.objects.create(service=service, kind=kind, name=name, config=config)
            changes.append(f"created {kind} target of {spec.slug}")
        elif current.name != name or current.config != config:
            current.name, current.config = name, config
            current.save(update_fields=["name", "config", "updated_at"])
            changes.append(f"updated {kind} target of {spec.slug}")
    for kind, target in sorted(existing.items()):
        target.delete()
        changes.append(f"deleted {kind} target of {spec.slug}")
    if spec.stakeholders is not None:
        changes.extend(sync_paging.stakeholders_apply(service, spec.stakeholders))
    if spec.escalation is not None:
        changes.extend(sync_paging.policy_apply(f"service-{spec.slug}", spec.escalation, service=service))
    return changes
