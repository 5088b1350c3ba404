"""Demo data for a first look: demo people who can sign in, three services and three months of incidents.

Idempotent: services and people are upserted (and get the one printed password each time);
incidents are added only to an empty database.

The incidents go through the same code as real ones — alert intake for Alertmanager and Events
API incidents (their alerts, payloads and source included), ``lifecycle.transition`` for every
move, report drafting, submission and approval — each step stamped with the time it happened
in the story, so a timeline, a report's figures and the insights agree with the incident's
timestamps. Apps add their own demo data through ``incidents.demo`` (diagnostics adds its
recorded runs there).
"""

import hashlib
import json
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.utils import timezone

from incidents import action_items, demo, intake, lifecycle, reports, roles, sla
from incidents.actors import Actor
from incidents.integrations import integration_create
from incidents.models import Incident, Integration, Resolution, Service, Status
from incidents.paging.demo import demo_paging_seed
from incidents.services import incident_create, note_add

SERVICES = [
    ("task-service", "Task service", "Creates and schedules tasks; Node.js on Kubernetes with PostgreSQL."),
    ("notification-service", "Notification service", "Sends e-mail and push notifications."),
    ("api-gateway", "API gateway", "Public entry point; routes to the other services."),
]

# username, first name, role, may use the admin (integration settings)
PEOPLE = [
    ("morgan", "Morgan", roles.MANAGER, True),
    ("alice", "Alice", roles.ENGINEER, False),
    ("bob", "Bob", roles.ENGINEER, False),
    ("vera", "Vera", roles.VIEWER, False),
]


@contextmanager
def story_time(when: datetime):
    """Within the block every "now" the code reads (``django.utils.timezone.now``) is ``when``.

    The demo's steps run through the real domain code, which stamps what it writes with "now";
    this makes each step happen at its time in the story, so nothing written has to be edited
    afterwards (timeline entries are append-only).
    """
    real_now = timezone.now
    timezone.now = lambda: when
    try:
        yield
    finally:
        timezone.now = real_now


def at(when: datetime, call, *args, **kwargs):
    """Run one domain call as if it happened at ``when``."""
    with story_time(when):
        return call(*args, **kwargs)


def alertmanager_body(
    *,
    alertname: str,
    service: str,
    summary: str,
    starts: datetime,
    severity: str = "critical",
    priority: str = "",
    ends: datetime | None = None,
    description: str = "",
) -> dict:
    """An Alertmanager webhook body (version 4) with one alert, as Alertmanager sends it."""
    labels = {"alertname": alertname, "service": service, "severity": severity, "namespace": "orion-prod"}
    if priority:
        labels["orion_severity"] = priority
    status = "resolved" if ends else "firing"
    annotations = {"summary": summary, "description": description or summary}
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"critical|warning"}}:{{alertname="{alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "orion-ops",
        "groupLabels": {"alertname": alertname, "service": service},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.orion-prod.svc:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts.isoformat().replace("+00:00", "Z"),
                "endsAt": (ends.isoformat().replace("+00:00", "Z") if ends else "0001-01-01T00:00:00Z"),
                "generatorURL": f"http://prometheus.orion-prod.svc:9090/graph?g0.expr=ALERTS%7Balertname%3D%22{alertname}%22%7D",
                "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16],
            }
        ],
    }


@dataclass
class Past:
    """A resolved incident of the last three months, for the history, the reports and the insights."""

    days_ago: float
    severity: str
    title: str
    service: str
    ack_minutes: int
    resolve_minutes: int
    report: str = ""  # "", draft, in_review, changes, approved
    resolution: str = Resolution.FIXED
    by: str = "alice"
    note: str = ""


# What the authors write into a report before submitting it: the root cause and the lesson, by title prefix.
CAUSES = {
    "Push notifications delayed": (
        "An expired APNs certificate made every push retry until the queue stalled.",
        "Alert on the push queue's age, not only its length.",
    ),
    "api-gateway returns 503": (
        "An ingress change removed the default backend; every route fell through to it.",
        "Ingress changes go through the same review and CI as code.",
    ),
    "Task creation fails": (
        "Import retries re-sent the same tasks; external_id is unique, so the second insert failed.",
        "Writes that are retried must be idempotent.",
    ),
    "Disk 85% full": (
        "The audit table grew 40 GB after verbose auditing was switched on and never off.",
        "Every debug switch gets an owner and an expiry date.",
    ),
    "api-gateway TLS certificate": (
        "cert-manager's issuer lost its DNS credentials; renewal had failed for 60 days.",
        "Alert on certificate expiry at 21 days, not at 3.",
    ),
    "5xx spike after deploy": (
        "Release 2026.11.20 dropped a header the checkout service needs.",
        "Deploy to a canary first and compare its error rate.",
    ),
    "Database connection pool exhausted": (
        "A code path held a transaction open across an HTTP call; sessions idled in transaction and filled the pool.",
        "No network calls inside a transaction; idle_in_transaction_session_timeout on every application role.",
    ),
    "notification-service pods OOMKilled": (
        "The template cache had no eviction; memory grew with every new locale.",
        "Caches get a size bound when they are written.",
    ),
    "Report export queries take 40 s": (
        "The export sorted by created_at without the user_id prefix the index has.",
        "EXPLAIN new report queries against production-sized data.",
    ),
    "High error rate on task-service": (
        "The auth service throttled us at 500 req/s after our traffic grew 30%.",
        "Track quotas of the services we depend on as capacity, with alerts.",
    ),
    "Task reminders queue backlog": (
        "Failed reminders retried immediately and forever, starving new jobs.",
        "Retries back off exponentially and stop after a limit.",
    ),
    "api-gateway down after a config push": (
        "A YAML indentation error removed all routes; the push had no schema check.",
        "Config is validated against its schema before it is applied.",
    ),
    "DB migration failed on deploy": (
        "A hotfix added the column by hand in production before the migration ran.",
        "No schema change by hand: hotfixes go through migrations.",
    ),
    "Slow search on the task board": (
        "ILIKE '%…%' on titles scanned the whole table.",
        "Search gets its own index (trigram) from the start.",
    ),
}


HISTORY = [
    Past(
        1.1,
        "P1",
        "Slow task list queries: 5.4 s instead of < 100 ms",
        "task-service",
        6,
        95,
        "draft",
        note="Added index on tasks(user_id, status); p95 back to 80 ms.",
    ),
    Past(
        3.3,
        "P2",
        "Push notifications delayed by 20 minutes",
        "notification-service",
        25,
        180,
        "in_review",
        by="bob",
        note="Drained the stuck APNs queue and raised the worker count from 2 to 4.",
    ),
    Past(
        5.6,
        "P0",
        "api-gateway returns 503 for every request",
        "api-gateway",
        3,
        48,
        "in_review",
        note="Rolled back the ingress config; all routes answer again.",
    ),
    Past(
        8.2,
        "P1",
        "Task creation fails: unique constraint on tasks.external_id (P2002)",
        "task-service",
        9,
        70,
        "changes",
        by="bob",
        note="Retried imports made duplicates; added an upsert.",
    ),
    Past(
        10.4,
        "P3",
        "Broken link in the password reset e-mail",
        "notification-service",
        190,
        1500,
        note="Template fixed.",
    ),
    Past(
        12.7,
        "P2",
        "Disk 85% full on the task-db replica",
        "task-service",
        40,
        300,
        "approved",
        note="Vacuumed the audit table and extended the volume to 200 GiB.",
    ),
    Past(
        15.3,
        "P2",
        "api-gateway TLS certificate expires in 3 days",
        "api-gateway",
        130,
        1440,
        "approved",
        by="bob",
        note="Renewed the certificate; cert-manager issuer fixed.",
    ),
    Past(
        17.5,
        "P1",
        "5xx spike after deploy 2026.11.20",
        "api-gateway",
        22,
        40,
        "approved",
        note="Rolled back 2026.11.20; error rate back to 0.2%.",
    ),
    Past(
        20.2,
        "P2",
        "Synthetic check failing from the eu-west probe",
        "api-gateway",
        10,
        30,
        resolution=Resolution.FALSE_ALARM,
        note="The probe's own network was down; the service was fine.",
    ),
    Past(
        23.6,
        "P0",
        "Database connection pool exhausted (P2024) on task-service",
        "task-service",
        4,
        55,
        "approved",
        note="Terminated idle-in-transaction sessions; connection_limit lowered from 20 to 10.",
    ),
    Past(
        26.1,
        "P1",
        "notification-service pods OOMKilled every 40 minutes",
        "notification-service",
        12,
        240,
        "approved",
        by="bob",
        note="Fixed the template cache that never evicted; memory flat since.",
    ),
    Past(
        29.4,
        "P2",
        "Report export queries take 40 s",
        "task-service",
        35,
        360,
        "approved",
        note="Rewrote the export query to use the (user_id, created_at) index.",
    ),
    Past(
        33.2,
        "P1",
        "High error rate on task-service: 6% 5xx",
        "task-service",
        7,
        50,
        "approved",
        note="Upstream auth service throttled us; raised our quota.",
    ),
    Past(
        40.6,
        "P2",
        "Task reminders queue backlog of 80,000 jobs",
        "notification-service",
        95,
        480,
        "approved",
        by="bob",
        note="Scaled the workers and fixed the retry storm.",
    ),
    Past(
        47.3,
        "P0",
        "api-gateway down after a config push",
        "api-gateway",
        2,
        25,
        "approved",
        note="Reverted the config; added a schema check to the pipeline.",
    ),
    Past(
        55.8,
        "P1",
        "DB migration failed on deploy: column already exists",
        "task-service",
        11,
        90,
        "approved",
        by="bob",
        note="Marked the migration applied and re-ran the deploy.",
    ),
    Past(
        68.5, "P2", "Slow search on the task board", "task-service", 50, 600, "approved", note="Added a trigram index."
    ),
    Past(
        79.0,
        "P3",
        "Wrong time zone in the weekly digest e-mail",
        "notification-service",
        300,
        2880,
        by="bob",
        note="Digest uses the user's time zone now.",
    ),
]

ACTION_ITEMS = {
    # incident title prefix: (title, owner, due in days from today (negative: overdue), type, done)
    "Database connection pool exhausted": [
        ("Put PgBouncer in front of task-db", "alice", -5, "preventive", False),
        ("Set idle_in_transaction_session_timeout for task_app", "alice", -20, "corrective", True),
    ],
    "5xx spike after deploy": [("Add a canary stage to api-gateway deploys", "bob", 10, "preventive", False)],
    "notification-service pods OOMKilled": [("Alert on working-set growth per pod", "bob", -12, "detective", True)],
    "api-gateway returns 503": [("Validate ingress config in CI before applying it", "bob", 14, "preventive", False)],
    "Disk 85% full": [("Alert at 75% disk on database volumes", "alice", -2, "detective", False)],
}


class Command(BaseCommand):
    help = "Create demo people (one printed password), services and three months of incidents."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username, **options):
        password = self._password()
        people = self._people(username, password)
        services = {}
        for slug, name, description in SERVICES:
            services[slug], _ = Service.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description}
            )
        demo_paging_seed(people=people, services=services)  # before the incidents, so they are paged
        if not Incident.objects.exists():
            now = timezone.now().replace(microsecond=0)
            self._history(now, services, people)
            demo.seeded(self._open_incidents(now, services, people))

        self.stdout.write(
            f"Demo login: {username} / {password}  (manager, with the admin's integration settings)\n"
            f"The same password signs in every demo person: morgan (manager, admin), alice and bob (engineers), "
            f"vera (viewer)."
        )

    # People ------------------------------------------------------------------------------------------

    def _password(self) -> str:
        password_file = settings.VAR_DIR / "demo_password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        return password_file.read_text().strip()

    def _people(self, username: str, password: str) -> dict:
        User = get_user_model()
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in roles.ROLES}
        # The admin's integration settings (rules, revocation), for the demo managers.
        integration_perms = Permission.objects.filter(
            content_type__app_label="incidents", codename__endswith="_integration"
        )
        people = {}
        for name, first_name, role, admin in [(username, "Demo", roles.MANAGER, True), *PEOPLE]:
            person, _ = User.objects.get_or_create(username=name, defaults={"first_name": first_name})
            person.set_password(password)
            person.is_staff = admin
            person.save()
            person.groups.add(groups[role])
            if admin:
                person.user_permissions.add(*integration_perms)
            people[name] = person
        return people

    # Open incidents: what the dashboard shows now ---------------------------------------------------

    def _open_incidents(self, now: datetime, services: dict, people: dict) -> dict[str, Incident]:
        alice, bob = Actor.for_user(people["alice"]), Actor.for_user(people["bob"])
        alertmanager, _ = integration_create(name="prod-alertmanager", kind="alertmanager")
        events, events_key = integration_create(name="prod-events", kind="events")

        detected = now - timedelta(minutes=22)
        pool = self._alert(
            alertmanager,
            detected + timedelta(seconds=30),
            alertname="TaskDBConnectionsExhausted",
            service="task-service",
            priority="P0",
            starts=detected,
            summary="Database connection pool exhausted (P2024) on task-service",
            description="task-db has 97 of 97 usable connections in use; task-service requests time out waiting "
            "for a pooled connection (Prisma P2024).",
        )
        at(detected + timedelta(minutes=3), lifecycle.transition, pool, Status.ACKNOWLEDGED, actor=alice, note="On it.")
        at(detected + timedelta(minutes=4), lifecycle.transition, pool, Status.DIAGNOSING, actor=alice)
        at(
            detected + timedelta(minutes=12),
            note_add,
            incident=pool,
            actor=alice,
            text="Diagnostics agree: the autoscaler doubled task-service to 8 pods × 12 connections, and 52 sessions "
            "sit idle in transaction. Terminating the oldest idle sessions; not scaling out.",
        )

        detected = now - timedelta(minutes=35)
        crash = self._event(
            events,
            events_key,
            detected,
            dedup_key="notification-service-crashloop",
            summary="notification-service pods in CrashLoopBackOff after deploy 2026.12.1",
            source="notification-service-6b8f9c7d4-2xkqp",
            severity="critical",
            component="notification-service",
        )
        at(detected + timedelta(minutes=4), lifecycle.transition, crash, Status.ACKNOWLEDGED, actor=bob)
        at(detected + timedelta(minutes=5), lifecycle.transition, crash, Status.DIAGNOSING, actor=bob)
        at(
            detected + timedelta(minutes=8),
            note_add,
            incident=crash,
            actor=bob,
            text='The new pods exit at start: secret notification-smtp has no key "password". Rolling back to '
            "2026.11.4 while the key is added.",
        )
        at(
            detected + timedelta(minutes=11),
            lifecycle.transition,
            crash,
            Status.MITIGATED,
            actor=bob,
            note="kubectl rollout undo deployment notification-service -n orion-prod; 2 of 2 old pods serve.",
        )

        self._alert(
            alertmanager,
            now - timedelta(minutes=4),
            alertname="HighErrorRate",
            service="api-gateway",
            starts=now - timedelta(minutes=4, seconds=30),
            severity="critical",
            summary="8% of requests return 5xx on api-gateway",
            description="Error rate above 5% for 5 minutes on api-gateway.",
        )

        breached = self._alert(
            alertmanager,
            now - timedelta(minutes=80),
            alertname="TaskSchedulerJobFailing",
            service="task-service",
            starts=now - timedelta(minutes=81),
            severity="warning",
            summary="Nightly task cleanup job failed 3 times",
            description="CronJob task-cleanup exited with code 1 on its last 3 runs.",
        )
        at(
            breached.ack_due_at + timedelta(seconds=15),
            sla.sla_breach_mark,
            incident_id=breached.pk,
            now=breached.ack_due_at + timedelta(seconds=15),
        )

        memory = at(
            now - timedelta(hours=2),
            incident_create,
            title="Memory climbing on api-gateway pods",
            severity="P2",
            description="Working set grows ~35 MB/h since the 09:00 deploy.",
            services=[services["api-gateway"]],
            detected_at=now - timedelta(hours=2),
            actor=bob,
        )
        at(now - timedelta(hours=1, minutes=52), lifecycle.transition, memory, Status.ACKNOWLEDGED, actor=bob)
        at(
            now - timedelta(hours=1, minutes=20),
            lifecycle.transition,
            memory,
            Status.MITIGATED,
            actor=bob,
            note="Rolled back to the previous image; memory flat since.",
        )

        at(
            now - timedelta(hours=3),
            incident_create,
            title="Typo in the notification e-mail footer",
            severity="P3",
            services=[services["notification-service"]],
            detected_at=now - timedelta(hours=3),
            actor=bob,
        )
        return {"pool": pool, "crashloop": crash}

    def _alert(self, integration: Integration, received: datetime, **alert) -> Incident:
        body = json.dumps(alertmanager_body(**alert)).encode()
        parsed = intake.alertmanager_parse(intake.json_load(body), integration=integration)
        _payload, outcomes = at(
            received, intake.alertmanager_apply_now, integration=integration, body=body, parsed=parsed
        )
        return Incident.objects.get(pk=outcomes[0].incident_id)

    def _event(self, integration: Integration, key: str, received: datetime, *, dedup_key: str, **payload) -> Incident:
        data = {"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}
        body = json.dumps(data).encode()
        event = intake.event_parse(data)
        _payload, outcome = at(
            received, intake.event_apply_now, integration=integration, body=body, data=data, event=event
        )
        return Incident.objects.get(pk=outcome.incident_id)

    # History: resolved and reviewed incidents spread over three months ----------------------------

    def _history(self, now: datetime, services: dict, people: dict) -> None:
        manager = Actor.for_user(people["morgan"])
        today = timezone.localdate()
        for n, past in enumerate(HISTORY):
            engineer = Actor.for_user(people[past.by])
            other = Actor.for_user(people["bob" if past.by == "alice" else "alice"])
            # Spread over the day too, so the weekly charts are not a comb.
            detected = now - timedelta(days=past.days_ago, minutes=(n * 137) % 600)
            incident = at(
                detected,
                incident_create,
                title=past.title,
                severity=past.severity,
                services=[services[past.service]],
                detected_at=detected,
                actor=other,
            )
            acked = detected + timedelta(minutes=past.ack_minutes)
            if acked > incident.ack_due_at:
                breach = incident.ack_due_at + timedelta(seconds=20)
                at(breach, sla.sla_breach_mark, incident_id=incident.pk, now=breach)
            at(acked, lifecycle.transition, incident, Status.ACKNOWLEDGED, actor=engineer)
            at(acked + timedelta(minutes=1), lifecycle.transition, incident, Status.DIAGNOSING, actor=engineer)
            resolved = detected + timedelta(minutes=past.resolve_minutes)
            if past.resolve_minutes > past.ack_minutes + 20:
                at(
                    resolved - timedelta(minutes=10),
                    lifecycle.transition,
                    incident,
                    Status.MITIGATED,
                    actor=engineer,
                    note=past.note,
                )
            at(
                resolved,
                lifecycle.transition,
                incident,
                Status.RESOLVED,
                actor=engineer,
                resolution=past.resolution,
                note=past.note,
            )
            report = at(resolved + timedelta(minutes=2), reports.report_draft_create, incident_id=incident.pk)
            cause = next((c for prefix, c in CAUSES.items() if past.title.startswith(prefix)), None)
            if report is not None and cause is not None:
                report = at(
                    resolved + timedelta(hours=19),
                    reports.report_update,
                    report=report,
                    actor=engineer,
                    version=report.version,
                    changes={"root_cause": cause[0], "lessons_learned": cause[1]},
                )
            if report is not None and past.report in ("in_review", "changes", "approved"):
                report = at(resolved + timedelta(hours=20), reports.report_submit, report=report, actor=engineer)
                if past.report == "changes":
                    at(
                        resolved + timedelta(hours=26),
                        reports.report_request_changes,
                        report=report,
                        actor=manager,
                        comment="Say why the retries were not idempotent, and add the action item for it.",
                    )
                elif past.report == "approved":
                    at(resolved + timedelta(hours=30), reports.report_approve, report=report, actor=manager)
            for title, owner, due, kind, done in self._items_for(past.title):
                item = at(
                    resolved + timedelta(hours=21),
                    action_items.action_item_create,
                    incident=incident,
                    actor=engineer,
                    title=title,
                    owner=people[owner],
                    due_date=today + timedelta(days=due),
                    type=kind,
                )
                if done:
                    done_at = min(now - timedelta(days=1), resolved + timedelta(days=4))
                    at(
                        done_at,
                        action_items.action_item_update,
                        item=item,
                        actor=Actor.for_user(people[owner]),
                        status="done",
                    )

    @staticmethod
    def _items_for(title: str) -> list[tuple]:
        return [item for prefix, items in ACTION_ITEMS.items() if title.startswith(prefix) for item in items]
