"""python manage.py recompute_hypotheses [INCIDENT_ID ...] [--open]"""

from django.core.management.base import BaseCommand, CommandError

from diagnostics.hypotheses import hypotheses_recompute
from diagnostics.models import DiagnosticRun
from incidents.models import Incident, Status


class Command(BaseCommand):
    help = (
        "Recompute the likely causes of incidents from their findings now (as the worker does when a run "
        "finishes): after loading recorded runs, or after the rules changed. Without ids: every incident "
        "with a finished run (--open: only open ones)."
    )

    def add_arguments(self, parser):
        parser.add_argument("incident_ids", nargs="*", type=int, help="Incident ids (default: all with runs).")
        parser.add_argument("--open", action="store_true", help="Only open incidents.")

    def handle(self, *args, incident_ids: list[int], open: bool, **options):
        ids = incident_ids or list(
            DiagnosticRun.objects.filter(finished_at__isnull=False).values_list("incident_id", flat=True).distinct()
        )
        incidents = Incident.objects.filter(pk__in=ids)
        if open:
            incidents = incidents.exclude(status__in=[Status.RESOLVED, Status.REVIEWED])
        missing = set(incident_ids) - set(incidents.values_list("pk", flat=True)) if incident_ids else set()
        if missing:
            raise CommandError(f"No incident with id {', '.join(map(str, sorted(missing)))}.")
        for incident in incidents.order_by("pk"):
            row = hypotheses_recompute(incident_id=incident.pk)
            top = row.hypotheses[0] if row and row.hypotheses else None
            self.stdout.write(
                f"{incident.reference}: " + (f"{top['title']} ({top['confidence']:.0%})" if top else "no likely cause")
            )
