"""Incidents with reports and action items for the Review step's page tests."""

from datetime import timedelta

from django.utils import timezone

from incidents import lifecycle, reports
from incidents.action_items import action_item_create
from incidents.actors import Actor
from incidents.models import Incident, Report
from incidents.services import note_add
from tests.factories import IncidentFactory, ServiceFactory


def resolved_incident(engineer, *, severity="P1", resolution="fixed", title="Database connection pool exhausted"):
    """A realistic incident: detected, acknowledged, mitigated, resolved (no report drafted yet)."""
    service = ServiceFactory(slug="task-service")
    incident = IncidentFactory(
        severity=severity, services=[service], title=title, detected_at=timezone.now() - timedelta(hours=2)
    )
    actor = Actor.for_user(engineer)
    lifecycle.transition(incident, "acknowledged", actor=actor, note="looking")
    lifecycle.transition(incident, "mitigated", actor=actor, note="Scaled task-service to 5 replicas")
    note_add(incident=incident, actor=actor, text="pool at 96/100")
    lifecycle.transition(incident, "resolved", actor=actor, resolution=resolution, note="Pool size 10 → 20")
    return Incident.objects.get(pk=incident.pk)


def report_for(engineer, **kwargs) -> Report:
    """A drafted report (drafted directly: on_commit hooks do not run inside a test transaction)."""
    incident = resolved_incident(engineer, **kwargs)
    return reports.report_draft_create(incident_id=incident.pk, force=True)


def submitted(report: Report, user) -> Report:
    return reports.report_submit(report=report, actor=Actor.for_user(user))


def edit_data(report: Report, **changes) -> dict:
    """The edit form's fields as the page would post them, with ``changes`` applied."""
    data = {
        "version": report.version,
        "title": report.title,
        "summary": report.summary,
        "root_cause": report.root_cause,
        "impact": report.impact,
        "resolution": report.resolution,
        "lessons_learned": report.lessons_learned,
        "pinned_entries": report.pinned_entries,
        "hidden_entries": report.hidden_entries,
        "intent": "save",
    }
    data.update(changes)
    return data


def item_for(incident, user, **fields):
    fields.setdefault("title", "Alert on pool saturation above 80 %")
    return action_item_create(incident=incident, actor=Actor.for_user(user), **fields)


def history_seed(engineer, *, weeks: int = 8, per_week: int = 3):
    """Resolved incidents spread over past weeks with realistic response times, for insights and the board.

    Timestamps are set afterwards with update(): lifecycle.transition stamps "now", and insights need
    incidents acknowledged and resolved at different speeds in different weeks.
    """
    now = timezone.now()
    services = [ServiceFactory(slug="checkout"), ServiceFactory(slug="task-service")]
    actor = Actor.for_user(engineer)
    created = []
    for week in range(weeks):
        for n in range(per_week):
            severity = ("P0", "P1", "P2", "P3")[(week + n) % 4]
            detected = now - timedelta(days=7 * week + n + 1, hours=n)
            incident = IncidentFactory(
                severity=severity,
                services=[services[(week + n) % 2]],
                title=f"Checkout latency above 2 s (week -{week}, #{n})",
                detected_at=detected,
            )
            lifecycle.transition(incident, "acknowledged", actor=actor)
            lifecycle.transition(incident, "resolved", actor=actor, resolution="fixed", note="rolled back")
            ack_minutes = (2, 9, 40, 300)[(week + n) % 4] + week
            Incident.objects.filter(pk=incident.pk).update(
                acknowledged_at=detected + timedelta(minutes=ack_minutes),
                resolved_at=detected + timedelta(minutes=ack_minutes + 25 + 10 * week),
            )
            created.append(incident)
    return created
