"""Paging on /metrics, counted in the database at scrape time (workers deliver, the web is scraped).

- ``orion_notification_deliveries_total{channel, outcome}``: deliveries that ended, by the
  contact kind of their last attempt (email, webhook, slack, ntfy; ``none`` for one that
  ended without an attempt) and outcome (``delivered``, ``failed``).
- ``orion_notification_deliveries_waiting{status}``: deliveries not ended yet (pending,
  sending, retrying).
- ``orion_escalation_steps_total{policy, step}``: escalation steps fired, by the policy
  frozen on the incident and the step's position in the unrolled plan (1 is the first page).

Registered with ``incidents.metrics.register`` in ``PagingConfig.ready()``.
"""

from django.db.models import Count, OuterRef, Subquery
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from incidents.paging.models import ContactKind, Delivery, DeliveryAttempt, DeliveryStatus, EscalationFiring

ENDED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
NO_CONTACT = "none"


class PagingCollector:
    def collect(self):
        # A delivered message has exactly one successful attempt: count those (one grouped scan of the
        # attempts). Failed messages are few: each is labelled by the kind of its last attempt.
        counts = {
            (kind, DeliveryStatus.DELIVERED.value): n
            for kind, n in DeliveryAttempt.objects.filter(ok=True)
            .values_list("contact_kind")
            .annotate(n=Count("id"))
            .order_by()
        }
        last_kind = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-number").values("contact_kind")
        failed = (
            Delivery.objects.filter(status=DeliveryStatus.FAILED)
            .annotate(kind=Subquery(last_kind[:1]))
            .values_list("kind")
            .annotate(n=Count("id"))
            .order_by()
        )
        for kind, n in failed:
            counts[(kind or NO_CONTACT, DeliveryStatus.FAILED.value)] = n
        deliveries = CounterMetricFamily(
            "orion_notification_deliveries",
            "Deliveries that ended, by the contact kind of their last attempt and outcome.",
            labels=["channel", "outcome"],
        )
        # Every channel and outcome from the start, so rate() and the alert rules see a 0, not nothing.
        for kind in sorted({*ContactKind.values, *(k for k, _ in counts)}):
            for outcome in ENDED:
                deliveries.add_metric([kind, str(outcome)], counts.get((kind, outcome), 0))
        yield deliveries

        waiting = dict(
            Delivery.objects.filter(status__in=WAITING).values_list("status").annotate(n=Count("id")).order_by()
        )
        gauge = GaugeMetricFamily(
            "orion_notification_deliveries_waiting", "Deliveries not ended yet, by status.", labels=["status"]
        )
        for status in WAITING:
            gauge.add_metric([str(status)], waiting.get(status, 0))
        yield gauge

        steps = CounterMetricFamily(
            "orion_escalation_steps", "Escalation steps fired, by policy and position.", labels=["policy", "step"]
        )
        rows = EscalationFiring.objects.values("escalation__policy_slug", "index").annotate(n=Count("id")).order_by()
        for row in sorted(rows, key=lambda r: (r["escalation__policy_slug"], r["index"])):
            steps.add_metric([row["escalation__policy_slug"], str(row["index"] + 1)], row["n"])
        yield steps
