from django.core.management.base import BaseCommand, CommandError

from incidents.integrations import integration_create
from incidents.models import Grouping, Integration, IntegrationKind


class Command(BaseCommand):
    help = "Create an alert integration. Its token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", required=True, choices=IntegrationKind.values)
        parser.add_argument("--grouping", choices=Grouping.values, default=Grouping.GROUP_KEY)
        parser.add_argument(
            "--resolve-acknowledged",
            action="store_true",
            help="Also auto-resolve incidents people acknowledged when their alerts clear.",
        )

    def handle(self, *args, name, kind, grouping, resolve_acknowledged, **options):
        name = name.strip()
        if not name:
            raise CommandError("NAME cannot be blank.")
        if Integration.objects.filter(name=name).exists():
            raise CommandError(f"An integration named {name!r} exists already.")
        integration, raw = integration_create(
            name=name, kind=kind, grouping=grouping, resolve_acknowledged=resolve_acknowledged
        )
        self.stdout.write(f"Created {integration.kind} integration {name!r} ({integration.prefix}…). Its token:")
        self.stdout.write(raw)
