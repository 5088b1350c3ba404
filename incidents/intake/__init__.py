"""Alert intake: Alertmanager webhooks and Events API v2 events become incidents.

- ``schema``: the bodies as declared schemas (validation and OpenAPI), and
  making every string storable;
- ``alertmanager``: a webhook split by alert key, and the rules that apply a
  key's alerts to its incident;
- ``events``: Events API v2 trigger / acknowledge / resolve;
- ``payloads``: raw bodies stored, applied, swept and purged, so that no
  accepted alert is lost and no integration key is kept in clear.
"""

from incidents.intake.alertmanager import AlertGroup, AlertIn, Outcome, Parsed, alertmanager_parse, group_apply
from incidents.intake.events import EVENT_ACTIONS, EVENT_SEVERITIES, EventIn, event_apply, event_parse
from incidents.intake.payloads import (
    REDACTED,
    alertmanager_apply_now,
    event_apply_now,
    groups_apply,
    is_transient,
    payload_process,
    payload_store,
    payloads_pending,
    payloads_purge,
    payloads_sweep,
)
from incidents.intake.schema import IntakeError, clean_json, json_load

__all__ = [
    "EVENT_ACTIONS",
    "EVENT_SEVERITIES",
    "REDACTED",
    "AlertGroup",
    "AlertIn",
    "EventIn",
    "IntakeError",
    "Outcome",
    "Parsed",
    "alertmanager_apply_now",
    "alertmanager_parse",
    "clean_json",
    "event_apply",
    "event_apply_now",
    "event_parse",
    "group_apply",
    "groups_apply",
    "is_transient",
    "json_load",
    "payload_process",
    "payload_store",
    "payloads_pending",
    "payloads_purge",
    "payloads_sweep",
]
