"""Demo data for a first look: a login, three services and a handful of realistic incidents.

Idempotent: services and users are upserted; incidents are added only to an empty database.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.utils import timezone

from incidents import lifecycle, roles
from incidents.actors import Actor
from incidents.models import Incident, Resolution, Service, Status
from incidents.services import incident_create, incident_update, note_add

SERVICES = [
    ("task-service", "Task service", "Creates and schedules tasks; Node.js on Kubernetes with PostgreSQL."),
    ("notification-service", "Notification service", "Sends e-mail and push notifications."),
    ("api-gateway", "API gateway", "Public entry point; routes to the other services."),
]

PEOPLE = [("alice", roles.ENGINEER), ("bob", roles.ENGINEER), ("morgan", roles.MANAGER), ("vera", roles.VIEWER)]


class Command(BaseCommand):
    help = "Create a demo login (printed), services and incidents."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username, **options):
        User = get_user_model()
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in roles.ROLES}

        password_file = settings.VAR_DIR / "demo_password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        demo, _ = User.objects.get_or_create(username=username, defaults={"first_name": "Demo"})
        demo.set_password(password)
        demo.is_staff = True
        demo.save()
        demo.groups.add(groups[roles.MANAGER])

        people = {}
        for name, role in PEOPLE:
            person, created = User.objects.get_or_create(username=name, defaults={"first_name": name.title()})
            if created:
                person.set_unusable_password()
                person.save()
            person.groups.add(groups[role])
            people[name] = person

        services = {}
        for slug, name, description in SERVICES:
            services[slug], _ = Service.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description}
            )

        if not Incident.objects.exists():
            self._incidents(services, people)

        self.stdout.write(f"Demo login: {username} / {password}  (manager; also alice, bob: engineers, vera: viewer)")

    def _incidents(self, services, people):
        now = timezone.now()
        alice, bob = Actor.for_user(people["alice"]), Actor.for_user(people["bob"])
        system = Actor.system("Alertmanager")

        incident_create(
            title="High error rate on task-service: 8% of requests return 5xx",
            severity="P1",
            description="Alert: error rate > 5% for the last 5 minutes on task-service.",
            services=[services["task-service"], services["api-gateway"]],
            detected_at=now - timedelta(minutes=4),
            actor=system,
        )

        pool = incident_create(
            title="Database connection pool exhausted (P2024) on task-service",
            severity="P0",
            description="Requests time out acquiring a connection from the Prisma pool.",
            services=[services["task-service"]],
            detected_at=now - timedelta(minutes=22),
            actor=system,
        )
        lifecycle.transition(pool, Status.ACKNOWLEDGED, actor=alice, note="On it.")
        lifecycle.transition(pool, Status.DIAGNOSING, actor=alice)
        note_add(
            incident=pool,
            actor=alice,
            text="pg_stat_activity shows 96 of 100 connections in use, 40 idle in transaction from task-service.",
        )

        leak = incident_create(
            title="Memory climbing on notification-service pods",
            severity="P2",
            description="Working set grows ~35 MB/h since the 09:00 deploy.",
            services=[services["notification-service"]],
            detected_at=now - timedelta(hours=2),
            actor=system,
        )
        lifecycle.transition(leak, Status.ACKNOWLEDGED, actor=bob)
        lifecycle.transition(leak, Status.MITIGATED, actor=bob, note="Rolled back to the previous image.")

        incident_create(
            title="Typo in the notification e-mail footer",
            severity="P3",
            services=[services["notification-service"]],
            detected_at=now - timedelta(hours=3),
            actor=bob,
        )

        slow = incident_create(
            title="Slow task list queries: 5.4 s instead of < 100 ms",
            severity="P1",
            services=[services["task-service"]],
            detected_at=now - timedelta(days=1, hours=2),
            actor=system,
        )
        lifecycle.transition(slow, Status.ACKNOWLEDGED, actor=alice)
        incident_update(incident=slow, actor=alice, severity="P2")
        lifecycle.transition(
            slow,
            Status.RESOLVED,
            actor=alice,
            resolution=Resolution.FIXED,
            note="Added index on tasks(user_id, status); p95 back to 80 ms.",
        )
