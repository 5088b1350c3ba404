"""Severity suggestions on an incident: shown on the page and the API, raised only by a person.

``severity_suggestion_for`` reads the incident's findings (every finished run) through
``diagnostics.analysis.severity``. ``severity_raise`` re-checks under the incident's row lock that
the evidence still meets the asked severity and that it is higher than the current one, then moves
the severity through ``incidents.services.incident_update`` (one entry, carrying the evidence).
Nothing here runs automatically, and nothing suggests a lower severity.
"""

from django.db import transaction

from diagnostics.analysis.facts import Facts
from diagnostics.analysis.severity import Suggestion, severity_suggestion
from diagnostics.hypotheses import incident_findings
from incidents.actors import Actor
from incidents.errors import DomainConflict
from incidents.models import Incident
from incidents.services import incident_guard_frozen, incident_update


class SuggestionGone(DomainConflict):
    """The evidence no longer meets the asked severity, or the incident already has it (409)."""


def severity_suggestion_for(incident: Incident) -> Suggestion | None:
    return severity_suggestion(Facts(incident_findings(incident.pk)), incident.severity)


def severity_raise(*, incident: Incident, severity: str, actor: Actor) -> Incident:
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        incident_guard_frozen(locked)
        suggestion = severity_suggestion_for(locked)
        if suggestion is None or suggestion.severity != severity:
            now = f"the evidence suggests {suggestion.severity}" if suggestion else "no higher severity is suggested"
            raise SuggestionGone(
                f"{locked.reference} is {locked.severity} and {now}: nothing to raise to {severity}.",
                status=locked.status,
            )
        return incident_update(
            incident=locked,
            actor=actor,
            severity=severity,
            severity_reason=suggestion.text,
            severity_evidence=suggestion.to_dict()["evidence"],
        )
