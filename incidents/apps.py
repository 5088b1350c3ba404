from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    """Every hook, panel and periodic task of the app is registered here, and nowhere at import time."""

    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from celery import signature
        from celery.schedules import crontab
        from django.conf import settings
        from django.db.models.signals import post_delete, post_save

        from incidents import integrations, lifecycle, metrics, panels, reports
        from incidents.api import schema  # noqa: F401  (drf-spectacular learns the auth scheme when it is imported)
        from incidents.models import Integration
        from incidents.web import panels as web_panels
        from orion_ops.celery import app

        lifecycle.on_transition(reports.report_draft_enqueue)
        # Intake caches integrations by token digest: an edit or a revocation in this process clears it.
        post_save.connect(integrations.integration_cache_clear, sender=Integration, dispatch_uid="integration-cache")
        post_delete.connect(integrations.integration_cache_clear, sender=Integration, dispatch_uid="integration-cache")

        panels.register(
            key="alerts",
            title="Alerts",
            template="incidents/_alerts_panel.html",
            order=15,
            context=web_panels.alerts_panel_context,
            version=web_panels.alerts_panel_version,
        )
        panels.register(
            key="report",
            title="Post-incident report",
            template="reports/_incident_panel.html",
            order=40,
            context=web_panels.report_panel_context,
            version=web_panels.report_panel_version,
        )
        panels.register(
            key="action-items",
            title="Action items",
            template="action_items/_incident_panel.html",
            order=50,
            context=web_panels.action_items_panel_context,
            version=web_panels.action_items_panel_version,
        )

        periodic = [
            ("sla-breaches", float(settings.SLA_CHECK_INTERVAL_SECONDS), "incidents.tasks.mark_sla_breaches"),
            ("process-pending-alert-payloads", 30.0, "incidents.tasks.process_pending_payloads"),
            ("purge-alert-payloads", 6 * 3600.0, "incidents.tasks.purge_alert_payloads"),
            (
                "remind-overdue-action-items",
                crontab(hour=settings.ACTION_ITEM_REMINDER_HOUR_UTC, minute=0),
                "incidents.tasks.remind_overdue_action_items",
            ),
            ("purge-idempotency-keys", 3600.0, "incidents.tasks.purge_idempotency_keys"),
            ("draft-missing-reports", 300.0, "incidents.tasks.draft_missing_reports"),
            ("beat-heartbeat", metrics.HEARTBEAT_INTERVAL_SECONDS, "incidents.tasks.beat_heartbeat"),
        ]
        for name, schedule, task in periodic:
            app.add_periodic_task(schedule, signature(task), name=name)
