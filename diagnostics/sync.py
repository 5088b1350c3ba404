"""Services and their targets as configuration: parse and validate a targets file, then apply it.

Validation reads the whole file and reports every error with its path
(``services[0].targets.postgres.dsn_env: required``) before anything is
written; applying happens in one transaction and changes only what differs, so
running the same file twice changes nothing the second time.
"""

from dataclasses import dataclass, field

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction

from diagnostics.models import Target
from diagnostics.targets import KEYS, SLUG, Errors, target_config_clean, target_name
from incidents.models import Service

SERVICE_KEYS = {"slug", "name", "description", "owners", "targets"}


@dataclass
class TargetSpec:
    kind: str
    name: str
    config: dict


@dataclass
class ServiceSpec:
    slug: str
    name: str
    description: str | None
    owners: list[str] | None
    targets: list[TargetSpec] = field(default_factory=list)


class SyncError(Exception):
    def __init__(self, errors: Errors):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


def parse(text: str) -> list[ServiceSpec]:
    """The services a targets file describes; SyncError lists every problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise SyncError([(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    errors: Errors = []
    if not isinstance(document, dict) or "services" not in document:
        raise SyncError([("services", "required: a list of services")])
    for key in document:
        if key != "services":
            errors.append((str(key), "unknown key"))
    services = document["services"]
    if not isinstance(services, list):
        raise SyncError([*errors, ("services", "must be a list of services")])

    specs: list[ServiceSpec] = []
    seen: dict[str, int] = {}
    usernames = set(get_user_model().objects.filter(is_active=True).values_list("username", flat=True))
    for i, item in enumerate(services):
        path = f"services[{i}]"
        if not isinstance(item, dict):
            errors.append((path, "must be a mapping with slug, name and targets"))
            continue
        for key in item:
            if key not in SERVICE_KEYS:
                errors.append((f"{path}.{key}", "unknown key"))
        slug = item.get("slug")
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            errors.append((f"{path}.slug", "required: lower-case letters, digits and dashes"))
        elif slug in seen:
            errors.append((f"{path}.slug", f"duplicate of services[{seen[slug]}]"))
        else:
            seen[slug] = i
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append((f"{path}.name", "required"))
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            errors.append((f"{path}.description", "must be text"))
        owners = item.get("owners")
        if owners is not None:
            if not isinstance(owners, list):
                errors.append((f"{path}.owners", "must be a list of usernames"))
                owners = None
            else:
                for j, owner in enumerate(owners):
                    if owner not in usernames:
                        errors.append((f"{path}.owners[{j}]", f"no active user named {owner!r}"))
        targets = item.get("targets") or {}
        target_specs = []
        if not isinstance(targets, dict):
            errors.append((f"{path}.targets", f"must be a mapping of kind to settings ({', '.join(KEYS)})"))
        else:
            for kind, data in targets.items():
                config, target_errors = target_config_clean(kind, data, f"{path}.targets.{kind}")
                errors.extend(target_errors)
                if not target_errors:
                    target_specs.append(TargetSpec(kind=kind, name=target_name(kind, data, slug or ""), config=config))
        if isinstance(slug, str) and isinstance(name, str):
            specs.append(
                ServiceSpec(slug=slug, name=name.strip(), description=description, owners=owners, targets=target_specs)
            )
    if errors:
        raise SyncError(errors)
    return specs


def apply(specs: list[ServiceSpec], *, prune: bool = False, dry_run: bool = False) -> list[str]:
    """Make the database match ``specs``; returns one line per change. Nothing is written on a dry run."""
    changes: list[str] = []
    with transaction.atomic():
        for spec in specs:
            changes.extend(_apply_service(spec))
        if prune:
            stale = Service.objects.exclude(slug__in=[s.slug for s in specs]).order_by("slug")
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


def _apply_service(spec: ServiceSpec) -> list[str]:
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
    if spec.owners is not None:
        current = set(service.owners.values_list("username", flat=True))
        if current != set(spec.owners):
            service.owners.set(get_user_model().objects.filter(username__in=spec.owners))
            changes.append(f"updated service {spec.slug}: owners")

    existing = {t.kind: t for t in Target.objects.filter(service=service)}
    for target in spec.targets:
        current = existing.pop(target.kind, None)
        if current is None:
            Target.objects.create(service=service, kind=target.kind, name=target.name, config=target.config)
            changes.append(f"created {target.kind} target of {spec.slug}")
        elif current.name != target.name or current.config != target.config:
            current.name, current.config = target.name, target.config
            current.save(update_fields=["name", "config", "updated_at"])
            changes.append(f"updated {target.kind} target of {spec.slug}")
    for kind, target in sorted(existing.items()):
        target.delete()
        changes.append(f"deleted {kind} target of {spec.slug}")
    return changes
