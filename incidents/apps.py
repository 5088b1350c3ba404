from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)
