"""Template helpers for the browser pages: times, severities, SLA state, icons."""

from datetime import UTC, datetime, timedelta

from django import template
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from incidents import roles, sla
from incidents.models import Severity, Status, TimelineKind

register = template.Library()

SEVERITY_WORD = {Severity.P0: "Critical", Severity.P1: "High", Severity.P2: "Medium", Severity.P3: "Low"}

STATUS_ICON = {
    Status.DETECTED: "alert",
    Status.ACKNOWLEDGED: "eye",
    Status.DIAGNOSING: "search",
    Status.MITIGATED: "shield",
    Status.RESOLVED: "check",
    Status.REVIEWED: "check-double",
}

TIMELINE_ICON = {
    TimelineKind.CREATED: "plus",
    TimelineKind.STATUS_CHANGED: "arrow",
    TimelineKind.SEVERITY_CHANGED: "alert",
    TimelineKind.COMMANDER_CHANGED: "user",
    TimelineKind.SERVICES_CHANGED: "box",
    TimelineKind.DETAILS_CHANGED: "pencil",
    TimelineKind.NOTE: "note",
    TimelineKind.ALERT_FIRED: "bell",
    TimelineKind.ALERT_RESOLVED: "bell-off",
    TimelineKind.DIAGNOSTIC: "search",
    TimelineKind.HYPOTHESIS: "search",
    TimelineKind.SLA_BREACHED: "clock",
    TimelineKind.MITIGATION: "shield",
    TimelineKind.RUNBOOK_STEP: "list",
    TimelineKind.ACTION_ITEM: "flag",
    TimelineKind.REPORT: "doc",
}

MOVE_LABEL = {
    Status.ACKNOWLEDGED: "Acknowledge",
    Status.DIAGNOSING: "Start diagnosing",
    Status.MITIGATED: "Mark mitigated",
    Status.RESOLVED: "Resolve",
}


@register.simple_tag
def icon(name: str, label: str = ""):
    """An icon from the vendored sprite. Decorative unless ``label`` is given."""
    href = f"{static('img/icons.svg')}#{name}"
    if label:
        return format_html('<svg class="icon" role="img" aria-label="{}"><use href="{}"></use></svg>', label, href)
    return format_html('<svg class="icon" aria-hidden="true" focusable="false"><use href="{}"></use></svg>', href)


@register.filter
def iso(value: datetime | None) -> str:
    """UTC ISO 8601 ending in Z, what the scripts parse."""
    if not value:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register.filter
def abs_time(value: datetime | None) -> str:
    if not value:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def abs_time_seconds(value: datetime | None) -> str:
    if not value:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" if minutes >= 10 or not seconds else f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def duration(value) -> str:
    """A timedelta or seconds as "2 min 10 s", "3 h 5 min", "2 d 4 h"."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return _span(seconds)


@register.filter
def ago(value: datetime | None) -> str:
    """Relative time: "3 min ago", "in 5 min". Scripts keep it current on the page."""
    if not value:
        return ""
    delta = (timezone.now() - value).total_seconds()
    if -5 < delta < 5:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(delta)}"


@register.filter
def severity_word(value: str) -> str:
    return SEVERITY_WORD.get(value, "")


@register.filter
def status_label(value: str) -> str:
    return Status(value).label if value in Status.values else value


@register.filter
def status_icon(value: str) -> str:
    return STATUS_ICON.get(value, "dot")


@register.filter
def timeline_icon(kind: str) -> str:
    return TIMELINE_ICON.get(kind, "dot")


@register.filter
def move_label(to: str, current: str = "") -> str:
    if current == Status.RESOLVED and to == Status.ACKNOWLEDGED:
        return "Reopen"
    return MOVE_LABEL.get(to, Status(to).label)


@register.filter
def sort_key(incident) -> str:
    """The dashboard order as "rank|deadline in seconds|id": the live-update script inserts rows by comparing these."""
    rank = Severity.values.index(incident.severity)
    return f"{rank}|{int(incident.ack_due_at.timestamp())}|{incident.pk}"


@register.filter
def role_name(user) -> str:
    return roles.role_of(user) or "no role"


@register.filter
def sla_target(severity: str) -> str:
    return sla.format_target(severity)


@register.simple_tag
def sla_state(incident) -> dict:
    """Where the incident stands against its acknowledgement SLA.

    ``state`` is one of ``due`` (counting down), ``breached`` (detected, past
    its deadline), ``met``, ``missed`` or ``none`` (never acknowledged, no
    longer waiting: an alert that cleared itself).
    """
    target = sla.format_target(incident.severity)
    now = timezone.now()
    if incident.status == Status.DETECTED:
        if incident.ack_due_at > now and not incident.sla_breached_at:
            return {"state": "due", "target": target, "text": f"{_span((incident.ack_due_at - now).total_seconds())}"}
        return {"state": "breached", "target": target, "text": f"+{_span((now - incident.ack_due_at).total_seconds())}"}
    if incident.acknowledged_at:
        took = _span((incident.acknowledged_at - incident.detected_at).total_seconds())
        late = incident.acknowledged_at > incident.ack_due_at or incident.sla_breached_at is not None
        return {"state": "missed" if late else "met", "target": target, "text": f"acked after {took}" if late else took}
    if incident.sla_breached_at:
        return {"state": "missed", "target": target, "text": "never acknowledged"}
    return {"state": "none", "target": target, "text": "not acknowledged"}


@register.filter
def version(incident) -> str:
    """Changes whenever anything the row or header shows changes; the scripts skip identical versions."""
    breached = iso(incident.sla_breached_at) if incident.sla_breached_at else "-"
    return f"{incident.updated_at.timestamp():.6f}|{breached}"


@register.simple_tag
def server_now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


@register.simple_tag(takes_context=True)
def nav_current(context, *names) -> str:
    """``aria-current="page"`` when the page is one of ``names`` (URL names)."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match and match.url_name in names:
        return mark_safe('aria-current="page"')  # noqa: S308  (a constant)
    return ""


@register.filter
def duration_since(end: datetime | None, start: datetime | None) -> str:
    """How long from ``start`` to ``end``, e.g. time to resolve."""
    if not end or not start:
        return ""
    return _span((end - start).total_seconds())
