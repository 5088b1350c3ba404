"""The incident page's Mitigate panel: its context, registered in DiagnosticsConfig.ready()."""

from diagnostics import conf
from diagnostics.actions.kubernetes import RBAC_ACTIONS
from diagnostics.mitigations.selectors import mitigation_targets_for_incident, mitigations_for_incident
from diagnostics.models import ACTIVE_MITIGATION_STATUSES
from incidents import roles
from incidents.models import Incident, Status

MITIGATIONS_SHOWN = 50


def panel_context(request, incident: Incident) -> dict:
    items = list(mitigations_for_incident(incident=incident)[:MITIGATIONS_SHOWN])
    user = getattr(request, "user", None)
    return {
        "mitigate": {
            "url": f"/api/v1/incidents/{incident.pk}/mitigations/",
            "targets": [
                {
                    "service": target.service.slug,
                    "name": target.name,
                    "deployment": target.config.get("deployment", ""),
                    "namespace": target.config.get("namespace", ""),
                    "actions": bool(target.config.get("actions")) and bool(target.config.get("deployment")),
                }
                for target in mitigation_targets_for_incident(incident=incident)
            ],
            "mitigations": items,
            "can_act": roles.has_role(user, roles.ENGINEER) and incident.status != Status.REVIEWED,
            "active": any(m.status in ACTIVE_MITIGATION_STATUSES for m in items),
            "max_replicas": conf.get("MITIGATION_MAX_REPLICAS"),
            "rbac_actions": RBAC_ACTIONS,
        }
    }
