from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents import reports  # noqa: F401  (drafts reports when incidents are resolved)
        from incidents.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)
