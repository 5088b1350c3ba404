from django.apps import AppConfig


class PagingConfig(AppConfig):
    """On-call schedules, escalation and notifications. Hooks and periodic tasks are registered here."""

    name = "incidents.paging"
    label = "paging"
    verbose_name = "Paging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from celery import signature
        from django.conf import settings

        from incidents import events, metrics, panels
        from incidents.paging import notify, web
        from incidents.paging.metrics import PagingCollector
        from orion_ops.celery import app

        events.on_event(notify.on_incident_event)
        metrics.register(PagingCollector())
        panels.register(
            key="paging",
            title="Paging",
            template="paging/_incident_panel.html",
            order=12,
            context=web.paging_panel_context,
            version=web.paging_panel_version,
        )
        app.add_periodic_task(
            float(settings.PAGING_ESCALATION_INTERVAL_SECONDS),
            signature("incidents.paging.tasks.escalate"),
            name="paging-escalate",
        )
        app.add_periodic_task(
            float(settings.PAGING_SWEEP_INTERVAL_SECONDS),
            signature("incidents.paging.tasks.sweep_deliveries"),
            name="paging-sweep-deliveries",
        )
