from django.apps import AppConfig
from django.core import checks


class DiagnosticsConfig(AppConfig):
    """Plugs diagnostics into the incidents app (hooks, report contributors, panels) and schedules its
    periodic tasks. The incidents app never imports diagnostics: everything it needs is registered here."""

    name = "diagnostics"
    verbose_name = "Diagnostics"

    def ready(self):
        from celery import signature
        from django.db.models.signals import post_delete, post_save

        from diagnostics import causes_panel, checklist_panel, conf, hooks, impact, live, mitigations, panel
        from diagnostics import demo as recorded_demo
        from diagnostics import metrics as diagnostics_metrics
        from diagnostics.models import Target
        from incidents import demo, metrics, panels, reports
        from incidents import services as incident_services
        from orion_ops.celery import app

        metrics.register(diagnostics_metrics.DiagnosticRunCollector())
        incident_services.on_incident_created(hooks.incident_created)
        incident_services.on_services_added(hooks.services_added)
        post_save.connect(hooks.targeted_services_forget, sender=Target, dispatch_uid="targeted-services")
        post_delete.connect(hooks.targeted_services_forget, sender=Target, dispatch_uid="targeted-services")
        reports.on_draft(hooks.report_findings)
        reports.on_draft(impact.report_impact)
        demo.on_seeded(recorded_demo.record)
        panels.register(
            key="likely-causes",
            title="Likely causes",
            template="diagnostics/_likely_causes_panel.html",
            order=5,
            context=causes_panel.panel_context,
            version=causes_panel.panel_version,
        )
        panels.register(
            key="runbook-checklist",
            title="Runbook checklist",
            template="diagnostics/_checklist_panel.html",
            order=8,
            context=checklist_panel.panel_context,
            version=checklist_panel.panel_version,
        )
        panels.register(
            key="diagnostics",
            title="Diagnostics",
            template="diagnostics/_incident_panel.html",
            order=20,
            context=panel.panel_context,
            version=live.diagnostics_panel_version,
        )
        panels.register(
            key="mitigations",
            title="Mitigate",
            template="diagnostics/_mitigations_panel.html",
            order=25,
            context=mitigations.panel_context,
            version=live.mitigations_panel_version,
        )
        app.add_periodic_task(
            float(conf.get("REAP_INTERVAL_SECONDS")),
            signature("diagnostics.tasks.reap_stale_runs"),
            name="diagnostics-reap-stale-runs",
        )
        app.add_periodic_task(
            float(conf.get("REAP_INTERVAL_SECONDS")),
            signature("diagnostics.tasks.reap_stale_mitigations"),
            name="diagnostics-reap-stale-mitigations",
        )
        checks.register(time_limits_check, checks.Tags.compatibility)


def time_limits_check(app_configs=None, **kwargs):
    """Each collector's (and the mitigation task's) hard limit must end before the broker redelivers its message."""
    from django.conf import settings

    from diagnostics import conf
    from diagnostics.collectors import COLLECTORS
    from diagnostics.services import collector_limits

    errors = []
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    for kind in COLLECTORS:
        limits = collector_limits(kind)
        if limits.hard >= visibility:
            errors.append(
                checks.Error(
                    f"The {kind} collector's hard time limit ({limits.hard} s) is not below "
                    f"CELERY_VISIBILITY_TIMEOUT ({visibility} s): Redis would redeliver a run still in progress.",
                    id="diagnostics.E001",
                )
            )
        if limits.soft >= limits.hard:
            errors.append(
                checks.Error(
                    f"The {kind} collector's soft time limit ({limits.soft} s) must be below its hard limit "
                    f"({limits.hard} s), or runs are killed before they can record timed_out.",
                    id="diagnostics.E002",
                )
            )
    limits = conf.get("MITIGATION_SOFT_TIME_LIMIT"), conf.get("MITIGATION_TIME_LIMIT")
    if limits[1] >= visibility or limits[0] >= limits[1]:
        errors.append(
            checks.Error(
                f"Mitigation time limits (soft {limits[0]} s, hard {limits[1]} s) must be soft < hard < "
                f"CELERY_VISIBILITY_TIMEOUT ({visibility} s): the soft limit records a timed-out action's outcome, "
                "and a mitigation still running past the hard limit is reported as lost.",
                id="diagnostics.E003",
            )
        )
    return errors
