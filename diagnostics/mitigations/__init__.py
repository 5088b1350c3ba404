"""Mitigations: scale or rollout-restart a service's Kubernetes deployment from an incident.

Split the way diagnostic runs are:

- ``plan``: validate a request and say exactly what would run, with safety
  warnings (an autoscaler that will undo a manual scale; scaling out past the
  free connections of the service's PostgreSQL database, the seed's incident).
  The API answers the plan as a 400 until the person confirms.
- ``services``: the writes. ``mitigation_request`` records a confirmed plan and
  enqueues it after commit; ``mitigation_claim`` takes it for one delivery
  with a conditional update (queued → running), so a redelivered task never
  acts twice; ``mitigation_finish`` writes the outcome and its one
  ``mitigation`` timeline entry in the same transaction; the reaper ends what
  no worker will.
- ``engine``: executing one claimed mitigation; the Kubernetes write itself is
  ``diagnostics.actions.kubernetes``.
- ``selectors``: reads. ``panel``: the incident page's Mitigate panel.
"""

from diagnostics.mitigations.engine import mitigation_execute
from diagnostics.mitigations.panel import panel_context
from diagnostics.mitigations.plan import ActionsDisabledError, MitigationInputError, Plan, mitigation_plan
from diagnostics.mitigations.selectors import mitigation_targets_for_incident, mitigations_for_incident
from diagnostics.mitigations.services import (
    MitigationBusyError,
    mitigation_claim,
    mitigation_finish,
    mitigation_request,
    mitigations_reap_stale,
)

__all__ = [
    "ActionsDisabledError",
    "MitigationBusyError",
    "MitigationInputError",
    "Plan",
    "mitigation_claim",
    "mitigation_execute",
    "mitigation_finish",
    "mitigation_plan",
    "mitigation_request",
    "mitigation_targets_for_incident",
    "mitigations_for_incident",
    "mitigations_reap_stale",
    "panel_context",
]
