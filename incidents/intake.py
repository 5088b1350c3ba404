"""Alert intake: Alertmanager webhooks and Events API v2 events become incidents.

The rules, in one place:
- an alert key (Alertmanager ``groupKey`` or fingerprint, or an event's
  ``dedup_key``) has at most one open incident; firing alerts for a key with an
  open incident attach to it (``alert_fired``, occurrences, last-seen) and never
  open a second one, even when deliveries race (a partial unique constraint
  backs the row lock);
- a re-send of a firing that is already recorded changes only last-seen, even
  when a person has since resolved the incident; a later firing of a resolved
  key opens a new incident linked to the previous one ("seen before");
- when all alerts of a key clear, the incident gets ``alert_resolved``; one still
  in ``detected`` auto-resolves, one people are working on stays with them
  unless the integration says otherwise.

Raw bodies are stored before the sender gets its 2xx (AlertPayload) and are
processed in bulk, inline for small bodies and on the worker for large ones.
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import (
    OPEN_STATUSES,
    AlertPayload,
    Incident,
    IncidentAlert,
    Integration,
    PayloadStatus,
    Resolution,
    Service,
    Severity,
    Source,
    Status,
    TimelineKind,
)
from incidents.services import incident_create
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

SEVERITY_ORDER = list(Severity.values)  # P0 first
EVENT_SEVERITIES = ("critical", "error", "warning", "info")
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_DEDUP_KEY = 255


class IntakeError(Exception):
    """A body that cannot be accepted. ``errors`` name the offending fields."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# Parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class AlertIn:
    fingerprint: str
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str


@dataclass
class AlertGroup:
    key: str
    alerts: list[AlertIn]
    common_annotations: dict = field(default_factory=dict)
    external_url: str = ""
    truncated: int = 0

    @property
    def firing(self) -> list[AlertIn]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertIn]:
        return [a for a in self.alerts if a.status == "resolved"]


def parse_time(value, where: str, *, required: bool = True) -> datetime | None:
    if value in (None, ""):
        if required:
            raise IntakeError([f"{where}: required"])
        return None
    if not isinstance(value, str):
        raise IntakeError([f"{where}: must be an RFC 3339 timestamp string"])
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise IntakeError([f"{where}: {value!r} is not an RFC 3339 timestamp"]) from None
    if parsed.tzinfo is None:
        raise IntakeError([f"{where}: {value!r} has no time zone"])
    if parsed.year <= 1:  # Alertmanager's "zero time" for a firing alert's endsAt
        return None
    return parsed.astimezone(UTC)


def _string_map(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IntakeError([f"{where}: must be an object of strings"])
    for key, item in value.items():
        if not isinstance(item, str):
            raise IntakeError([f"{where}.{key}: must be a string"])
    return value


def labels_fingerprint(labels: dict) -> str:
    """Alertmanager's fingerprint is a label hash; compute one when a sender omits it."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def alertmanager_parse(data, *, integration: Integration) -> list[AlertGroup]:
    """Validate an Alertmanager webhook body (version 4) and split it by alert key."""
    if not isinstance(data, dict):
        raise IntakeError(["body: must be a JSON object"])
    version = data.get("version")
    if version != "4":
        raise IntakeError([f'version: expected "4", got {version!r}'])
    if data.get("status") not in ("firing", "resolved"):
        raise IntakeError(['status: must be "firing" or "resolved"'])
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise IntakeError(["alerts: required, a list"])
    group_key = data.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise IntakeError(["groupKey: required, a non-empty string"])
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or truncated < 0:
        raise IntakeError(["truncatedAlerts: must be a non-negative integer"])
    common_annotations = _string_map(data.get("commonAnnotations"), "commonAnnotations")
    _string_map(data.get("commonLabels"), "commonLabels")
    _string_map(data.get("groupLabels"), "groupLabels")
    external_url = data.get("externalURL") or ""
    if not isinstance(external_url, str):
        raise IntakeError(["externalURL: must be a string"])

    parsed = []
    for index, raw in enumerate(alerts):
        where = f"alerts[{index}]"
        if not isinstance(raw, dict):
            raise IntakeError([f"{where}: must be an object"])
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            raise IntakeError([f'{where}.status: must be "firing" or "resolved"'])
        labels = _string_map(raw.get("labels"), f"{where}.labels")
        fingerprint = raw.get("fingerprint") or labels_fingerprint(labels)
        if not isinstance(fingerprint, str) or len(fingerprint) > 255:
            raise IntakeError([f"{where}.fingerprint: must be a string of at most 255 characters"])
        generator_url = raw.get("generatorURL") or ""
        if not isinstance(generator_url, str):
            raise IntakeError([f"{where}.generatorURL: must be a string"])
        parsed.append(
            AlertIn(
                fingerprint=fingerprint,
                status=status,
                labels=labels,
                annotations=_string_map(raw.get("annotations"), f"{where}.annotations"),
                starts_at=parse_time(raw.get("startsAt"), f"{where}.startsAt"),
                ends_at=parse_time(raw.get("endsAt"), f"{where}.endsAt", required=False),
                generator_url=generator_url[:2000],
            )
        )

    if integration.grouping == "fingerprint":
        by_key: dict[str, AlertGroup] = {}
        for alert in parsed:
            group = by_key.setdefault(
                alert.fingerprint,
                AlertGroup(key=alert.fingerprint, alerts=[], external_url=external_url),
            )
            group.alerts.append(alert)
        return list(by_key.values())
    key = group_key if len(group_key) <= MAX_DEDUP_KEY else hashlib.sha256(group_key.encode()).hexdigest()
    return [
        AlertGroup(
            key=key,
            alerts=parsed,
            common_annotations=common_annotations,
            external_url=external_url,
            truncated=truncated,
        )
    ]


# Mapping rules ---------------------------------------------------------------


def alert_severity(integration: Integration, labels: dict) -> str:
    for name in integration.priority_labels:
        value = (labels.get(name) or "").strip().upper()
        if value in SEVERITY_ORDER:
            return value
    value = (labels.get(integration.severity_label) or "").strip().lower()
    mapped = integration.severity_map.get(value)
    return mapped if mapped in SEVERITY_ORDER else integration.default_severity


def group_severity(integration: Integration, alerts: list[AlertIn]) -> str:
    return min((alert_severity(integration, a.labels) for a in alerts), key=SEVERITY_ORDER.index)


class ServiceIndex:
    """Services by slug, loaded on first use: re-sends never need them, new incidents do."""

    def __init__(self, slugs: set[str]):
        self._slugs = slugs
        self._services: dict[str, Service] | None = None

    def __contains__(self, slug: str) -> bool:
        return slug in self._load()

    def __getitem__(self, slug: str) -> Service:
        return self._load()[slug]

    def _load(self) -> dict[str, Service]:
        if self._services is None:
            self._services = {s.slug: s for s in Service.objects.filter(slug__in=self._slugs)} if self._slugs else {}
        return self._services


def services_for(integration: Integration, alerts: list[AlertIn], known) -> list[Service]:
    found: dict[str, Service] = {}
    for alert in alerts:
        for name in integration.service_labels:
            value = alert.labels.get(name)
            if value and value in known:
                found[value] = known[value]
                break
    return [found[slug] for slug in sorted(found)]


def _candidate_slugs(integration: Integration, groups: list[AlertGroup]) -> set[str]:
    return {
        value
        for group in groups
        for alert in group.alerts
        for name in integration.service_labels
        if (value := alert.labels.get(name))
    }


def _title(group: AlertGroup, alerts: list[AlertIn]) -> str:
    first = alerts[0]
    summary = (
        group.common_annotations.get("summary")
        or first.annotations.get("summary")
        or first.annotations.get("title")
        or ""
    )
    name = first.labels.get("alertname", "Alert")
    title = f"{name}: {summary}" if summary else name
    if len(alerts) > 1:
        title += f" ({len(alerts)} alerts)"
    return title[:200]


def _description(group: AlertGroup, alerts: list[AlertIn]) -> str:
    lines = []
    description = group.common_annotations.get("description") or alerts[0].annotations.get("description")
    if description:
        lines.append(description)
    for alert in alerts[:20]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        lines.append(f"- {labels}" + (f" ({alert.generator_url})" if alert.generator_url else ""))
    if len(alerts) > 20:
        lines.append(f"- … and {len(alerts) - 20} more")
    if group.external_url:
        lines.append(f"Alertmanager: {group.external_url}")
    return "\n".join(lines)[:20000]


# Applying a group --------------------------------------------------------------


@dataclass
class Outcome:
    key: str
    action: str  # opened, attached, repeat, resolved, resolve_noted, dropped
    incident_id: int | None


def _alert_rows(incident: Incident, alerts: list[AlertIn], payload: AlertPayload | None, now: datetime):
    return [
        IncidentAlert(
            incident=incident,
            payload=payload,
            fingerprint=a.fingerprint,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            status=a.status,
            labels=a.labels,
            annotations=a.annotations,
            generator_url=a.generator_url,
            first_seen_at=now,
            last_seen_at=now,
        )
        for a in alerts
    ]


def _new_firings(incident: Incident, alerts: list[AlertIn]) -> list[AlertIn]:
    """Firings (fingerprint, startsAt) the incident has not recorded yet."""
    known = set(
        incident.alerts.filter(fingerprint__in={a.fingerprint for a in alerts}).values_list("fingerprint", "starts_at")
    )
    return [a for a in alerts if (a.fingerprint, a.starts_at) not in known]


def _mark_resolved(incident: Incident, alerts: list[AlertIn], now: datetime) -> None:
    for alert in alerts:
        incident.alerts.filter(fingerprint=alert.fingerprint, status="firing").update(
            status="resolved", ends_at=alert.ends_at or now, last_seen_at=now
        )


LAST_SEEN_RESOLUTION = timedelta(seconds=1)


def _touch(incident: Incident, firing: list[AlertIn], now: datetime) -> None:
    """Record that these firings were seen again; nothing else changes.

    To the second: in a storm of identical deliveries most of these updates
    match no row, so they neither write nor wait on each other's row locks.
    """
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - LAST_SEEN_RESOLUTION)
    if not Incident.objects.filter(stale, pk=incident.pk).update(last_seen_at=now):
        return  # seen within the second: alert rows keep last-seen no finer than their incident
    IncidentAlert.objects.filter(stale, incident=incident, fingerprint__in=[a.fingerprint for a in firing]).update(
        last_seen_at=now
    )


def _open_incident(integration: Integration, key: str) -> Incident | None:
    return (
        Incident.objects.select_for_update()
        .filter(integration=integration, dedup_key=key, status__in=OPEN_STATUSES)
        .first()
    )


def _latest_incident(integration: Integration, key: str) -> Incident | None:
    return Incident.objects.filter(integration=integration, dedup_key=key).order_by("-detected_at", "-id").first()


def group_apply(
    *,
    integration: Integration,
    group: AlertGroup,
    payload: AlertPayload | None,
    known_services: ServiceIndex,
    now: datetime,
    source: str = Source.ALERTMANAGER,
) -> Outcome:
    """Apply one alert key's alerts. Runs inside the caller's transaction."""
    actor = Actor.integration(integration.name)
    firing = group.firing
    if firing:
        return _apply_firing(integration, group, firing, payload, known_services, now, actor, source)
    return _apply_resolved(integration, group, now, actor)


def _apply_firing(integration, group, firing, payload, known_services, now, actor, source) -> Outcome:
    key = group.key
    # Fast path for re-sends (repeat_interval, storms of the same group): when an
    # open incident already holds every firing, only last-seen changes, and the
    # incident's row lock is taken by nothing but that short UPDATE. Rows are
    # only ever added, so a firing seen here stays recorded.
    # One query answers both "is there an open incident?" and "does it hold every firing?".
    known = set(
        IncidentAlert.objects.filter(
            incident__integration=integration,
            incident__dedup_key=key,
            incident__status__in=OPEN_STATUSES,
            fingerprint__in={a.fingerprint for a in firing},
        ).values_list("incident_id", "fingerprint", "starts_at")
    )
    holders = {incident_id for incident_id, _, _ in known}
    if len(holders) == 1 and {(a.fingerprint, a.starts_at) for a in firing} <= {(f, t) for _, f, t in known}:
        holder = Incident(pk=holders.pop())
        _touch(holder, firing, now)
        if group.resolved:
            _mark_resolved(holder, group.resolved, now)
        return Outcome(key, "repeat", holder.pk)
    unlocked = (
        Incident.objects.filter(integration=integration, dedup_key=key, status__in=OPEN_STATUSES).only("pk").first()
    )

    # Lock the open incident only when there is one; with none, the partial unique
    # constraint (one open incident per key) settles a race between two openers.
    incident = _open_incident(integration, key) if unlocked is not None else None
    if incident is None:
        latest = _latest_incident(integration, key)
        if latest is not None and not _new_firings(latest, firing):
            # A re-send of a firing already recorded, after people closed it.
            _touch(latest, firing, now)
            return Outcome(key, "repeat", latest.pk)
        try:
            with transaction.atomic():
                incident = _open(integration, group, firing, payload, known_services, now, actor, source, latest)
            return Outcome(key, "opened", incident.pk)
        except IntegrityError:
            # Another delivery opened it a moment ago: attach to theirs.
            incident = _open_incident(integration, key)
            if incident is None:
                raise

    new = _new_firings(incident, firing)
    if new:
        IncidentAlert.objects.bulk_create(
            _alert_rows(incident, new, payload, now), batch_size=1000, ignore_conflicts=True
        )
        Incident.objects.filter(pk=incident.pk).update(
            occurrences=incident.occurrences + len(new), last_seen_at=now, alerts_resolved_at=None
        )
        names = sorted({a.labels.get("alertname", "alert") for a in new})
        timeline_entry_add(
            incident=incident,
            kind=TimelineKind.ALERT_FIRED,
            actor=actor,
            text=f"{len(new)} more alert{'s' if len(new) != 1 else ''} fired: {', '.join(names)[:300]}",
            data={
                "alerts": len(new),
                "fingerprints": [a.fingerprint for a in new[:50]],
                "payload": payload.pk if payload else None,
                "severity": group_severity(integration, new),
            },
            at=now,
        )
        action = "attached"
    else:
        _touch(incident, firing, now)
        action = "repeat"
    if group.resolved:
        _mark_resolved(incident, group.resolved, now)
    return Outcome(key, action, incident.pk)


def _open(integration, group, firing, payload, known_services, now, actor, source, previous) -> Incident:
    services = services_for(integration, firing, known_services)
    starts = min(a.starts_at for a in firing)
    timeline_data = {
        "alerts": len(firing),
        "payload": payload.pk if payload else None,
        "alert_key": group.key,
    }
    if group.truncated:
        timeline_data["truncated_alerts"] = group.truncated
    if previous is not None:
        timeline_data["seen_before"] = previous.pk
    if not services:
        timeline_data["unrouted"] = True
    incident = incident_create(
        title=_title(group, firing),
        severity=group_severity(integration, firing),
        description=_description(group, firing),
        services=services,
        detected_at=min(starts, now),
        actor=actor,
        source=source,
        dedup_key=group.key,
        alert_fields={
            "integration": integration,
            "alert_starts_at": starts,
            "last_seen_at": now,
            "occurrences": len(firing),
            "previous_incident": previous,
            "unrouted": not services,
        },
        timeline_data=timeline_data,
    )
    IncidentAlert.objects.bulk_create(_alert_rows(incident, firing, payload, now), batch_size=1000)
    if previous is not None:
        timeline_entry_add(
            incident=incident,
            kind=TimelineKind.ALERT_FIRED,
            actor=actor,
            text=f"Seen before: {previous.reference} ({previous.status}) had the same alert",
            data={"seen_before": previous.pk, "previous_status": previous.status},
            at=now,
        )
    return incident


def _apply_resolved(integration, group, now, actor) -> Outcome:
    key = group.key
    incident = _open_incident(integration, key)
    if incident is None:
        latest = _latest_incident(integration, key)
        if latest is not None:
            Incident.objects.filter(pk=latest.pk).update(last_seen_at=now)
            _mark_resolved(latest, group.resolved, now)
            return Outcome(key, "repeat", latest.pk)
        return Outcome(key, "dropped", None)
    _mark_resolved(incident, group.resolved, now)
    if incident.alerts_resolved_at is not None:
        Incident.objects.filter(pk=incident.pk).update(last_seen_at=now)
        return Outcome(key, "repeat", incident.pk)
    Incident.objects.filter(pk=incident.pk).update(alerts_resolved_at=now, last_seen_at=now)
    auto_resolve = incident.status == Status.DETECTED or integration.resolve_acknowledged
    timeline_entry_add(
        incident=incident,
        kind=TimelineKind.ALERT_RESOLVED,
        actor=actor,
        text=(
            "All alerts cleared; resolving automatically"
            if auto_resolve
            else f"All alerts cleared; left {incident.status} for the people working on it"
        ),
        data={"alerts": len(group.resolved), "auto_resolve": auto_resolve},
        at=now,
    )
    if auto_resolve:
        lifecycle.transition(incident, Status.RESOLVED, actor=actor, resolution=Resolution.AUTO_RESOLVED)
        return Outcome(key, "resolved", incident.pk)
    return Outcome(key, "resolve_noted", incident.pk)


# Payloads ----------------------------------------------------------------------


def payload_store(*, integration: Integration, body: bytes, alert_count: int, processed: bool = False) -> AlertPayload:
    now = timezone.now()
    return AlertPayload.objects.create(
        integration=integration,
        received_at=now,
        body=body.decode("utf-8"),
        size=len(body),
        alert_count=alert_count,
        status=PayloadStatus.PROCESSED if processed else PayloadStatus.PENDING,
        processed_at=now if processed else None,
        attempts=1 if processed else 0,
    )


def alertmanager_apply_now(
    *, integration: Integration, body: bytes, groups: list[AlertGroup], alert_count: int
) -> tuple[AlertPayload, list[Outcome]]:
    """Store and apply a small body in one transaction: one commit, and all or nothing.

    If anything fails, nothing is stored and the sender, answered 503, sends again.
    """
    with transaction.atomic():
        payload = payload_store(integration=integration, body=body, alert_count=alert_count, processed=True)
        outcomes = groups_apply(integration=integration, groups=groups, payload=payload)
    return payload, outcomes


def payload_process(payload_id: int) -> list[Outcome]:
    """Process a stored Alertmanager payload. Safe to run again (replay, redelivery)."""
    payload = AlertPayload.objects.select_related("integration").get(pk=payload_id)
    integration = payload.integration
    AlertPayload.objects.filter(pk=payload.pk).update(attempts=F("attempts") + 1)
    try:
        data = json.loads(payload.body)
        if integration.kind == "events":
            event = event_parse(data)
        else:
            groups = alertmanager_parse(data, integration=integration)
    except (IntakeError, ValueError) as exc:
        AlertPayload.objects.filter(pk=payload.pk).update(status=PayloadStatus.FAILED, error=str(exc)[:2000])
        return []
    if integration.kind == "events":
        outcomes = [event_apply(integration=integration, event=event, payload=payload)]
    else:
        outcomes = groups_apply(integration=integration, groups=groups, payload=payload)
    payload_mark_processed(payload)
    from incidents import metrics

    for outcome in outcomes:
        metrics.INTAKE_OUTCOMES.labels(kind=integration.kind, outcome=outcome.action).inc()
    return outcomes


def groups_apply(*, integration: Integration, groups: list[AlertGroup], payload: AlertPayload | None) -> list[Outcome]:
    """Apply groups in bulk: several keys per transaction, never one transaction per alert."""
    slugs = _candidate_slugs(integration, groups)
    known = ServiceIndex(slugs)
    outcomes = []
    batch_alerts = settings.INTAKE_BATCH_ALERTS
    start = 0
    while start < len(groups):
        end, alerts = start, 0
        while end < len(groups) and (end == start or alerts + len(groups[end].alerts) <= batch_alerts):
            alerts += len(groups[end].alerts)
            end += 1
        with transaction.atomic(savepoint=False):
            now = timezone.now()
            for group in groups[start:end]:
                outcomes.append(
                    group_apply(integration=integration, group=group, payload=payload, known_services=known, now=now)
                )
        start = end
    return outcomes


def payload_mark_processed(payload: AlertPayload, *, count_attempt: bool = False) -> None:
    """Processed. ``count_attempt`` for the inline path, which has not counted its attempt yet."""
    extra = {"attempts": F("attempts") + 1} if count_attempt else {}
    AlertPayload.objects.filter(pk=payload.pk).update(
        status=PayloadStatus.PROCESSED, processed_at=timezone.now(), error="", **extra
    )


def payloads_pending(*, older_than_seconds: int):
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return AlertPayload.objects.filter(status=PayloadStatus.PENDING, received_at__lt=cutoff).order_by("received_at")


def payloads_purge(*, retention_days: int) -> int:
    cutoff = timezone.now() - timezone.timedelta(days=retention_days)
    deleted, _ = AlertPayload.objects.filter(received_at__lt=cutoff).exclude(status=PayloadStatus.PENDING).delete()
    return deleted


# Events API v2 -------------------------------------------------------------------


@dataclass(frozen=True)
class EventIn:
    action: str
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: object = None
    links: list = field(default_factory=list)
    images: list = field(default_factory=list)


def event_parse(data) -> EventIn:
    """Validate an Events API v2 body (routing_key is checked by the caller)."""
    if not isinstance(data, dict):
        raise IntakeError(["Event object is invalid: the body must be a JSON object"])
    errors = []
    action = data.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key.strip()):
        errors.append("'dedup_key' must be a non-empty string")
    elif dedup_key is not None and len(dedup_key) > MAX_DEDUP_KEY:
        errors.append(f"'dedup_key' must be at most {MAX_DEDUP_KEY} characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    links = data.get("links") or []
    images = data.get("images") or []
    if not isinstance(links, list) or not isinstance(images, list):
        errors.append("'links' and 'images' must be lists")
    payload = data.get("payload")
    fields: dict = {}
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is required to trigger")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' must be at most 1024 characters")
            source = payload.get("source")
            if not isinstance(source, str) or not source.strip():
                errors.append("'payload.source' is missing or blank")
            severity = payload.get("severity")
            if severity not in EVENT_SEVERITIES:
                errors.append(f"'payload.severity' must be one of {', '.join(EVENT_SEVERITIES)}")
            timestamp = None
            try:
                timestamp = parse_time(payload.get("timestamp"), "'payload.timestamp'", required=False)
            except IntakeError as exc:
                errors.extend(exc.errors)
            for name in ("component", "group", "class"):
                if payload.get(name) is not None and not isinstance(payload.get(name), str):
                    errors.append(f"'payload.{name}' must be a string")
            fields = {
                "summary": (summary or "").strip() if isinstance(summary, str) else "",
                "source": source if isinstance(source, str) else "",
                "severity": severity or "",
                "timestamp": timestamp,
                "component": payload.get("component") or "",
                "group": payload.get("group") or "",
                "event_class": payload.get("class") or "",
                "custom_details": payload.get("custom_details"),
            }
    if errors:
        raise IntakeError(errors)
    return EventIn(
        action=action,
        dedup_key=dedup_key or uuid.uuid4().hex,
        links=links if isinstance(links, list) else [],
        images=images if isinstance(images, list) else [],
        **fields,
    )


def event_apply(*, integration: Integration, event: EventIn, payload: AlertPayload | None) -> Outcome:
    """Apply one event. Acknowledge/resolve for an unknown key is accepted and dropped."""
    actor = Actor.integration(integration.name)
    now = timezone.now()
    with transaction.atomic():
        if event.action == "trigger":
            starts = event.timestamp or now
            alert = AlertIn(
                fingerprint=event.dedup_key[:255],
                status="firing",
                labels={
                    k: v
                    for k, v in {
                        "severity": event.severity,
                        "source": event.source,
                        "component": event.component,
                        "group": event.group,
                        "class": event.event_class,
                        "service": event.component or event.source,
                    }.items()
                    if v
                },
                annotations={"summary": event.summary},
                starts_at=starts,
                ends_at=None,
                generator_url=next((link.get("href", "") for link in event.links if isinstance(link, dict)), "")[:2000],
            )
            group = AlertGroup(key=event.dedup_key, alerts=[alert], common_annotations={"summary": event.summary})
            known = ServiceIndex(_candidate_slugs(integration, [group]))
            incident = _open_incident(integration, event.dedup_key)
            if incident is not None:
                # Every trigger for an open key is a new occurrence (events have no startsAt identity).
                IncidentAlert.objects.filter(incident=incident, fingerprint=alert.fingerprint).update(last_seen_at=now)
                Incident.objects.filter(pk=incident.pk).update(occurrences=incident.occurrences + 1, last_seen_at=now)
                timeline_entry_add(
                    incident=incident,
                    kind=TimelineKind.ALERT_FIRED,
                    actor=actor,
                    text=f"Triggered again ({event.severity}): {event.summary}"[:2000],
                    data={"payload": payload.pk if payload else None, "custom_details": event.custom_details},
                    at=now,
                )
                return Outcome(event.dedup_key, "attached", incident.pk)
            latest = _latest_incident(integration, event.dedup_key)
            services = services_for(integration, [alert], known)
            try:
                with transaction.atomic():
                    incident = incident_create(
                        title=event.summary[:200],
                        severity=integration.severity_map.get(event.severity, integration.default_severity),
                        description=_event_description(event),
                        services=services,
                        detected_at=min(starts, now),
                        actor=actor,
                        source=Source.EVENTS,
                        dedup_key=event.dedup_key,
                        alert_fields={
                            "integration": integration,
                            "alert_starts_at": starts,
                            "last_seen_at": now,
                            "occurrences": 1,
                            "previous_incident": latest,
                            "unrouted": not services,
                        },
                        timeline_data={
                            "payload": payload.pk if payload else None,
                            "alert_key": event.dedup_key,
                            **({"seen_before": latest.pk} if latest else {}),
                        },
                    )
                    IncidentAlert.objects.bulk_create(_alert_rows(incident, [alert], payload, now))
            except IntegrityError:
                incident = _open_incident(integration, event.dedup_key)
                if incident is None:
                    raise
                Incident.objects.filter(pk=incident.pk).update(occurrences=incident.occurrences + 1, last_seen_at=now)
                return Outcome(event.dedup_key, "attached", incident.pk)
            return Outcome(event.dedup_key, "opened", incident.pk)

        incident = _open_incident(integration, event.dedup_key)
        if incident is None:
            logger.info("events: %s for unknown or closed key %r dropped", event.action, event.dedup_key)
            return Outcome(event.dedup_key, "dropped", None)
        Incident.objects.filter(pk=incident.pk).update(last_seen_at=now)
        if event.action == "acknowledge":
            if incident.status != Status.DETECTED:
                return Outcome(event.dedup_key, "repeat", incident.pk)
            lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=actor, note="acknowledged by the sender")
            return Outcome(event.dedup_key, "acknowledged", incident.pk)
        group = AlertGroup(key=event.dedup_key, alerts=[])
        return _apply_resolved(integration, group, now, actor)


def _event_description(event: EventIn) -> str:
    lines = [f"Source: {event.source}"]
    for label, value in (("Component", event.component), ("Group", event.group), ("Class", event.event_class)):
        if value:
            lines.append(f"{label}: {value}")
    if event.custom_details is not None:
        details = json.dumps(event.custom_details, indent=2, sort_keys=True, default=str)
        lines.append(f"Details:\n{details[:10000]}")
    for link in event.links[:10]:
        if isinstance(link, dict) and link.get("href"):
            lines.append(f"Link: {link.get('text') or link['href']} {link['href']}")
    return "\n".join(lines)[:20000]
