"""Alertmanager webhooks: split a notification by alert key and apply each key's alerts.

The rules, in one place:
- an alert key (Alertmanager ``groupKey`` or fingerprint) has at most one open
  incident; firing alerts for a key with an open incident attach to it
  (``alert_fired``, occurrences, last-seen) and never open a second one, even
  when deliveries race (a partial unique constraint backs the row lock);
- a re-send of a firing that is already recorded changes only last-seen, even
  when a person has since resolved the incident; a later firing of a resolved
  key opens a new incident linked to the previous one ("seen before");
- when all alerts of a key clear, the incident gets ``alert_resolved``; one still
  in ``detected`` auto-resolves, one people are working on stays with them
  unless the integration (or an explicit resolve event) says otherwise.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connection
from pydantic import ValidationError

from incidents import lifecycle
from incidents.actors import Actor
from incidents.intake.schema import (
    MAX_DEDUP_KEY,
    AlertmanagerAlert,
    AlertmanagerWebhook,
    IntakeError,
    clean_json,
    error_lines,
    labels_fingerprint,
)
from incidents.models import (
    OPEN_STATUSES,
    AlertPayload,
    Incident,
    IncidentAlert,
    Integration,
    Resolution,
    Service,
    Severity,
    Source,
    Status,
    TimelineKind,
)
from incidents.services import incident_create
from incidents.timeline import timeline_entry_add, timeline_entry_new

SEVERITY_ORDER = list(Severity.values)  # P0 first


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


@dataclass
class Parsed:
    """A webhook body split by alert key, with the alerts that were refused and why."""

    groups: list[AlertGroup]
    rejected: list[dict] = field(default_factory=list)  # [{"alert": index, "errors": [...]}]
    cleaned: int = 0  # characters PostgreSQL cannot store, replaced by U+FFFD

    @property
    def alert_count(self) -> int:
        return sum(len(g.alerts) for g in self.groups)


_ENVELOPE_ONLY = {"alerts": []}


def alertmanager_parse(data, *, integration: Integration) -> Parsed:
    """Validate a webhook body (version 4) and split it by alert key.

    A malformed envelope is an IntakeError (the whole body is refused). A
    malformed alert is refused on its own and listed in ``rejected``; when no
    alert is left, the body is refused with every alert's reasons.
    """
    if not isinstance(data, dict):
        raise IntakeError(["body: must be a JSON object"])
    raw_alerts = data.get("alerts")
    # The envelope and each alert are cleaned and validated on their own: one alert's
    # trouble (a value nested too deep, a bad time) refuses that alert only.
    envelope_data, cleaned = clean_json({**data, **_ENVELOPE_ONLY})
    try:
        envelope = AlertmanagerWebhook.model_validate(envelope_data)
    except ValidationError as exc:
        raise IntakeError(error_lines(exc)) from None
    if not isinstance(raw_alerts, list):
        raise IntakeError(["alerts: must be a list"])

    parsed: list[AlertIn] = []
    rejected: list[dict] = []
    for index, raw in enumerate(raw_alerts):
        try:
            raw, replaced = clean_json(raw)
            cleaned += replaced
            alert = AlertmanagerAlert.model_validate(raw)
        except IntakeError as exc:
            rejected.append(
                {"alert": index, "errors": [f"alerts[{index}]: {e.removeprefix('body: ')}" for e in exc.errors]}
            )
            continue
        except ValidationError as exc:
            rejected.append({"alert": index, "errors": error_lines(exc, prefix=f"alerts[{index}]")})
            continue
        parsed.append(
            AlertIn(
                fingerprint=alert.fingerprint or labels_fingerprint(alert.labels),
                status=alert.status,
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.startsAt,
                ends_at=alert.endsAt,
                generator_url=alert.generatorURL[:2000],
            )
        )
    if rejected and not parsed:
        raise IntakeError([line for item in rejected for line in item["errors"]])

    external_url = envelope.externalURL
    if integration.grouping == "fingerprint":
        by_key: dict[str, AlertGroup] = {}
        for alert in parsed:
            group = by_key.setdefault(
                alert.fingerprint, AlertGroup(key=alert.fingerprint, alerts=[], external_url=external_url)
            )
            group.alerts.append(alert)
        return Parsed(list(by_key.values()), rejected, cleaned)
    group_key = envelope.groupKey
    key = group_key if len(group_key) <= MAX_DEDUP_KEY else hashlib.sha256(group_key.encode()).hexdigest()
    group = AlertGroup(
        key=key,
        alerts=parsed,
        common_annotations=envelope.commonAnnotations,
        external_url=external_url,
        truncated=envelope.truncatedAlerts,
    )
    return Parsed([group] if parsed else [], rejected, cleaned)


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

    def unread(self) -> list[str]:
        """The slugs a statement about to run could look up alongside: none once the services are known."""
        return sorted(self._slugs) if self._services is None else []

    def fill(self, found: list) -> None:
        """The services of ``unread()``, as ``[id, slug, name]`` rows another statement read."""
        fields = ["id", "slug", "name"]
        self._services = {slug: Service.from_db(connection.alias, fields, [pk, slug, name]) for pk, slug, name in found}


def services_for(integration: Integration, alerts: list[AlertIn], known) -> list[Service]:
    found: dict[str, Service] = {}
    for alert in alerts:
        for name in integration.service_labels:
            value = alert.labels.get(name)
            if value and value in known:
                found[value] = known[value]
                break
    return [found[slug] for slug in sorted(found)]


def candidate_slugs(integration: Integration, groups: list[AlertGroup]) -> set[str]:
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
    action: str  # opened, attached, repeat, resolved, resolve_noted, acknowledged, dropped, failed
    incident_id: int | None


def alert_rows(incident: Incident, alerts: list[AlertIn], payload: AlertPayload | None, now: datetime):
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
    Written as SQL for the same reason as ``key_state``: it runs on every repeat.
    """
    stale_before = now - LAST_SEEN_RESOLUTION
    stale = "(last_seen_at IS NULL OR last_seen_at < %s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Incident._meta.db_table} SET last_seen_at = %s WHERE id = %s AND {stale}",  # noqa: S608 (table names from the models' metadata; values are parameters)
            [now, incident.pk, stale_before],
        )
        if not cursor.rowcount:
            return  # seen within the second: alert rows keep last-seen no finer than their incident
        fingerprints = sorted({a.fingerprint for a in firing})
        cursor.execute(
            f"UPDATE {IncidentAlert._meta.db_table} SET last_seen_at = %s WHERE incident_id = %s "  # noqa: S608 (table names from the models' metadata; values are parameters)
            f"AND fingerprint IN ({_marks(fingerprints)}) AND {stale}",
            [now, incident.pk, *fingerprints, stale_before],
        )


def open_incident(integration: Integration, key: str) -> Incident | None:
    return (
        Incident.objects.select_for_update()
        .filter(integration=integration, dedup_key=key, status__in=OPEN_STATUSES)
        .first()
    )


def latest_incident(integration: Integration, key: str) -> Incident | None:
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
    return apply_resolved(integration, group, now, actor)


@dataclass(frozen=True)
class KeyState:
    """What one query tells about an alert key: its open incident, its latest one, and the firings they hold."""

    open_id: int | None
    latest: Incident | None  # pk and status only
    held: dict[int, set[tuple[str, datetime]]]


def key_state(
    integration: Integration, key: str, firing: list[AlertIn], services: ServiceIndex | None = None
) -> KeyState:
    """The key's open incident and its latest incident (often the same), with the given firings each holds.

    One statement, on the alert-key index: the key's incidents that are open or latest,
    joined to their alert rows of these fingerprints. Written as SQL: this runs for
    every delivery, and building it through the ORM cost more than running it.
    With ``services`` not yet read, the same statement also reads them (by slug, on
    their unique index): a new incident needs them, and a round trip costs more than
    the lookup.
    """
    fingerprints = sorted({a.fingerprint for a in firing})
    incidents, alerts = Incident._meta.db_table, IncidentAlert._meta.db_table
    held_sql = (
        f"SELECT i.id, i.status, a.fingerprint, a.starts_at, i.detected_at FROM {incidents} i "  # noqa: S608 (table names from the models' metadata; values are parameters)
        f"LEFT JOIN {alerts} a ON a.incident_id = i.id AND a.fingerprint IN ({_marks(fingerprints)}) "
        "WHERE i.integration_id = %s AND i.dedup_key = %s "
        f"AND (i.status IN ({_marks(OPEN_STATUSES)}) OR i.id = ("
        f"SELECT id FROM {incidents} WHERE integration_id = %s AND dedup_key = %s "
        "ORDER BY detected_at DESC, id DESC LIMIT 1))"
    )
    params = [*fingerprints, integration.pk, key, *OPEN_STATUSES, integration.pk, key]
    slugs = services.unread() if services is not None else []
    if slugs:
        found = (
            "json_agg(json_build_array(id, slug, name))::text"
            if connection.vendor == "postgresql"
            else "json_group_array(json_array(id, slug, name))"
        )
        sql = (
            f"SELECT k.id, k.status, k.fingerprint, k.starts_at, s.found FROM (SELECT {found} AS found "  # noqa: S608 (as above)
            f"FROM {Service._meta.db_table} WHERE slug IN ({_marks(slugs)})) s LEFT JOIN ({held_sql}) k ON 1 = 1 "
            "ORDER BY k.detected_at DESC, k.id DESC"
        )
        params = [*slugs, *params]
    else:
        sql = f"{held_sql} ORDER BY i.detected_at DESC, i.id DESC"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if slugs:
        services.fill(json.loads(rows[0][4] or "[]"))
    open_id, latest_row, held = None, None, {}
    for pk, status, fingerprint, starts_at, _ in rows:
        if pk is None:
            continue  # the services' row, when the key has no incident
        if latest_row is None:
            latest_row = Incident(pk=pk, status=status)
        if status in OPEN_STATUSES:
            open_id = pk
        firings = held.setdefault(pk, set())
        if fingerprint is not None:
            firings.add((fingerprint, db_datetime(starts_at)))
    return KeyState(open_id, latest_row, held)


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def db_datetime(value):
    """A datetime column read with a plain cursor: SQLite hands back text, PostgreSQL a datetime."""
    if isinstance(value, str):
        return connection.ops.convert_datetimefield_value(value, None, connection)
    return value


def _apply_firing(integration, group, firing, payload, known_services, now, actor, source) -> Outcome:
    key = group.key
    wanted = {(a.fingerprint, a.starts_at) for a in firing}
    # One query answers "is there an open incident, does it hold every firing, and
    # which incident came last?". Re-sends (repeat_interval, storms of the same
    # group) end here: only last-seen changes. Rows are only ever added, so a
    # firing seen here stays recorded.
    state = key_state(integration, key, firing, known_services)
    if state.open_id is not None and wanted <= state.held[state.open_id]:
        holder = Incident(pk=state.open_id)
        _touch(holder, firing, now)
        if group.resolved:
            _mark_resolved(holder, group.resolved, now)
        return Outcome(key, "repeat", holder.pk)

    incident = None
    if state.open_id is None:
        latest = state.latest
        if latest is not None and wanted <= state.held[latest.pk]:
            # A re-send of a firing already recorded, after people closed it.
            _touch(latest, firing, now)
            return Outcome(key, "repeat", latest.pk)
        # The partial unique constraint (one open incident per key) decides in one
        # INSERT … ON CONFLICT DO NOTHING whether this delivery opens the incident.
        opened = _open(integration, group, firing, payload, known_services, now, actor, source, latest)
        if opened is not None:
            return Outcome(key, "opened", opened.pk)
    # Another delivery opened it a moment ago, or it was open already: attach under its row lock.
    incident = open_incident(integration, key)
    if incident is None:
        # Closed between our look and the lock: file anew (a lost race on that is an error to retry).
        incident = _open(integration, group, firing, payload, known_services, now, actor, source, state.latest)
        if incident is None:
            raise IntegrityError(f"alert key {key!r}: could neither open nor find an open incident")
        return Outcome(key, "opened", incident.pk)

    new = _new_firings(incident, firing)
    if new:
        IncidentAlert.objects.bulk_create(
            alert_rows(incident, new, payload, now), batch_size=1000, ignore_conflicts=True
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


def _open(integration, group, firing, payload, known_services, now, actor, source, previous) -> Incident | None:
    """Open the key's incident, or None when the key has an open incident already (nothing written)."""
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
    more_entries = []
    if previous is not None:
        more_entries.append(
            timeline_entry_new(
                kind=TimelineKind.ALERT_FIRED,
                actor=actor,
                text=f"Seen before: {previous.reference} ({previous.status}) had the same alert",
                data={"seen_before": previous.pk, "previous_status": previous.status},
            )
        )
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
            "previous_incident_id": previous.pk if previous is not None else None,
            "unrouted": not services,
        },
        timeline_data=timeline_data,
        unless_key_open=True,
        more_entries=more_entries,
    )
    if incident is not None:
        IncidentAlert.objects.bulk_create(alert_rows(incident, firing, payload, now), batch_size=1000)
    return incident


def apply_resolved(integration, group, now, actor, *, explicit: bool = False) -> Outcome:
    """All alerts of a key cleared. ``explicit`` (an Events v2 resolve) resolves even an acknowledged incident."""
    key = group.key
    incident = open_incident(integration, key)
    if incident is None:
        latest = latest_incident(integration, key)
        if latest is not None:
            Incident.objects.filter(pk=latest.pk).update(last_seen_at=now)
            _mark_resolved(latest, group.resolved, now)
            return Outcome(key, "repeat", latest.pk)
        return Outcome(key, "dropped", None)
    _mark_resolved(incident, group.resolved, now)
    if incident.alerts_resolved_at is not None and not explicit:
        Incident.objects.filter(pk=incident.pk).update(last_seen_at=now)
        return Outcome(key, "repeat", incident.pk)
    Incident.objects.filter(pk=incident.pk).update(alerts_resolved_at=now, last_seen_at=now)
    auto_resolve = explicit or incident.status == Status.DETECTED or integration.resolve_acknowledged
    if explicit:
        text = "Resolved by the sender"
    elif auto_resolve:
        text = "All alerts cleared; resolving automatically"
    else:
        text = f"All alerts cleared; left {incident.status} for the people working on it"
    timeline_entry_add(
        incident=incident,
        kind=TimelineKind.ALERT_RESOLVED,
        actor=actor,
        text=text,
        data={"alerts": len(group.resolved), "auto_resolve": auto_resolve, "explicit": explicit},
        at=now,
    )
    if auto_resolve:
        lifecycle.transition(incident, Status.RESOLVED, actor=actor, resolution=Resolution.AUTO_RESOLVED)
        return Outcome(key, "resolved", incident.pk)
    return Outcome(key, "resolve_noted", incident.pk)
