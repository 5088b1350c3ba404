"""Follow-ups registered with incidents.services: run diagnostics for new incidents and newly added services.

They run after the incident's transaction commits (a rolled-back incident
runs nothing). A failure here is logged and swallowed: diagnostics must never
break filing or editing an incident.
"""

import logging

from diagnostics import services
from diagnostics.models import RunTrigger

logger = logging.getLogger(__name__)


def incident_created(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.INCIDENT_CREATED)


def services_added(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.SERVICES_ADDED)


def _request(incident_id: int, service_ids: list[int], trigger: str) -> None:
    if not service_ids:
        return
    try:
        services.runs_request(incident_id=incident_id, service_ids=service_ids, trigger=trigger)
    except Exception:
        logger.exception("could not request diagnostics for incident %s", incident_id)
