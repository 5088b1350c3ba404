"""Paging: people's contact methods, channels, on-call schedules, escalation policies and the outbox.

Who is on call is computed from rotations and overrides (``oncall.py``), never
stored. An incident's escalation is a frozen copy of its policy
(``IncidentEscalation.plan``), so editing a policy never rewrites a running one.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.models import Incident, Service
from incidents.scoping import ScopedByIncidentManager


class ContactKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook (JSON)"
    SLACK = "slack", "Slack-compatible webhook"
    NTFY = "ntfy", "ntfy push"


class ContactMethod(models.Model):
    """One way to reach a person; a page tries a person's methods in ``position`` order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=ContactKind.choices)
    address = models.CharField(max_length=500, help_text="An email address, or the webhook / ntfy topic URL.")

    class Meta:
        ordering = ["user_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} #{self.position}"


class Channel(models.Model):
    """A shared destination (a chat room, a team mailbox). Its URL is a secret, read from ``url_env``."""

    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=ContactKind.choices)
    url_env = models.CharField(max_length=200, blank=True, help_text="Environment variable holding the URL.")
    address = models.EmailField(blank=True, help_text="For email channels: the address.")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Schedule(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Rotation(models.Model):
    """Participants take turns: shift ``k`` after the hand-off belongs to ``participants[k mod n]``.

    The hand-off is a wall-clock time in the schedule's time zone, so a weekly
    rotation hands off at 09:00 local time on both sides of a DST change.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="rotations")
    position = models.PositiveSmallIntegerField(default=0)
    shift_seconds = models.PositiveIntegerField(help_text="Shift length, in wall-clock seconds.")
    handoff = models.DateTimeField(help_text="One hand-off; later ones keep its local wall-clock time.")
    participants = models.JSONField(default=list, help_text="Usernames, in order.")

    class Meta:
        ordering = ["schedule_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.schedule} rotation {self.position}"


class ScheduleOverride(models.Model):
    """A person covers ``[start, end)`` instead of the rotations."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        ordering = ["schedule_id", "start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="override_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.user} covers {self.schedule} from {self.start:%Y-%m-%d %H:%M}"


class EscalationPolicy(models.Model):
    """Ordered steps, each followed by a wait; the whole list runs ``1 + repeat`` times."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    repeat = models.PositiveSmallIntegerField(default=0, help_text="Times the steps run again after the first pass.")
    is_default = models.BooleanField(default=False, help_text="Used for services without a policy of their own.")
    services = models.ManyToManyField(Service, blank=True, related_name="escalation_policies")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_policy")
        ]

    def __str__(self) -> str:
        return self.slug


class EscalationStep(models.Model):
    """Notify the on-call of a schedule, named people or a channel; then wait.

    ``wait_minutes`` null means the incident's acknowledge target for its severity.
    """

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    wait_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position + 1}"


class Stakeholder(models.Model):
    """Someone (or a channel) told about a service's incidents: opened, acknowledged, resolved, …"""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="stakeholders")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Set when the person subscribed on their profile page; ``sync_services`` keeps its hands off such rows.
    self_subscribed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, channel__isnull=True) | Q(user__isnull=True, channel__isnull=False),
                name="stakeholder_is_user_or_channel",
            ),
            models.UniqueConstraint(fields=["service", "user"], name="one_stakeholder_row_per_user"),
            models.UniqueConstraint(fields=["service", "channel"], name="one_stakeholder_row_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.service}: {self.user or self.channel}"


class EscalationState(models.TextChoices):
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    FINISHED = "finished", "Finished"


class IncidentEscalation(models.Model):
    """The escalation of one incident: its frozen plan and where it stands.

    ``generation`` grows on each restart (a reopen). A step fires when a tick
    moves ``next_index`` forward with a conditional update; the unique
    ``EscalationFiring`` row is the backstop, so a step fires exactly once.
    """

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="escalation")
    policy_slug = models.CharField(max_length=100)
    plan = models.JSONField(help_text="The policy as it was when the incident opened.")
    state = models.CharField(max_length=16, choices=EscalationState.choices, default=EscalationState.ACTIVE)
    generation = models.PositiveIntegerField(default=0)
    next_index = models.PositiveIntegerField(default=0, help_text="Position in the unrolled steps (round × steps).")
    next_fire_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedByIncidentManager()

    class Meta:
        indexes = [models.Index(fields=["next_fire_at"], name="escalation_due", condition=Q(state="active"))]

    def __str__(self) -> str:
        return f"escalation of {self.incident_id} ({self.state})"


class EscalationFiring(models.Model):
    escalation = models.ForeignKey(IncidentEscalation, on_delete=models.CASCADE, related_name="firings")
    generation = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    fired_at = models.DateTimeField()
    recipients = models.JSONField(default=list)

    class Meta:
        ordering = ["fired_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["escalation", "generation", "index"], name="one_firing_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.escalation} step {self.index} (generation {self.generation})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """An outbox row: one message to one recipient for one event, written in the event's transaction.

    ``contacts`` are the ways to reach the recipient, tried in order; a channel's
    URL is never copied here (``channel`` names it and the sender reads the
    variable). ``key`` is unique: an event cannot produce the same message twice.
    """

    key = models.CharField(max_length=200, unique=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    purpose = models.CharField(max_length=16, help_text="page or update.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipient = models.CharField(max_length=200, help_text="Username or channel slug.")
    contacts = models.JSONField(default=list)
    contact_index = models.PositiveSmallIntegerField(default=0)
    message = models.JSONField(help_text="title, text, severity, status, url, at.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    objects = ScopedByIncidentManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status__in=["pending", "retrying", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    contact_index = models.PositiveSmallIntegerField(default=0)
    contact_kind = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    permanent = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class CalendarFeed(models.Model):
    """A person's secret for their iCal URL; only its SHA-256 is stored."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"calendar feed of {self.user}"
