"""Insights (/insights/): MTTA, MTTR, SLA compliance, time in each state, action items, recurring incidents,
and weekly trends drawn as inline SVG. The figures come from ``incidents.insights`` (SQL aggregates:
the same number of queries however many incidents there are)."""

from urllib.parse import urlencode

from django.shortcuts import render
from django.views.decorators.http import require_GET

from incidents import insights, roles
from incidents.models import Severity
from incidents.templatetags.orion import SEVERITY_WORD
from incidents.web import charts
from incidents.web.access import role_required
from incidents.web.forms import InsightsForm

STATE_LABELS = (
    ("detected", "Detected → acknowledged", "waiting for someone"),
    ("acknowledged", "Acknowledged → next step", "before diagnosis or a fix started"),
    ("diagnosing", "Diagnosing", "finding the cause"),
    ("mitigated", "Mitigated → resolved", "impact stopped, not yet resolved"),
)


def percent(share: float | None) -> str | None:
    """0.9167 → "91.7 %"; whole numbers without decimals."""
    if share is None:
        return None
    value = round(share * 100, 1)
    return f"{value:g} %"


def api_query(form: InsightsForm, period, service) -> str:
    """The same question for /api/v1/insights/ (its end date is exclusive; ours is the last day shown)."""
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    params = {}
    if data.get("period") == "custom":
        params["start"] = period.start.date().isoformat()
        params["end"] = period.end.date().isoformat()
    else:
        params["days"] = data.get("period") or "30"
    if service is not None:
        params["service"] = service.slug
    return urlencode(params)


def _state_rows(time_in_state: dict) -> list[dict]:
    longest = max((v for v in time_in_state.values() if v), default=0)
    return [
        {
            "key": key,
            "label": label,
            "help": help_text,
            "seconds": time_in_state.get(key),
            "percent": round(100 * time_in_state[key] / longest, 1) if time_in_state.get(key) and longest else 0,
        }
        for key, label, help_text in STATE_LABELS
    ]


@require_GET
@role_required(roles.VIEWER)
def insights_page(request):
    form = InsightsForm(request.GET or None)
    period, period_text = form.chosen_period()
    service = form.cleaned_data.get("service") if form.is_bound and form.is_valid() else None
    figures = insights.insights(period=period, service=service)
    weekly = charts.weeks_filled(figures["weekly"], period.start, period.end)
    for week in weekly:
        week["total"] = sum(week["incidents"].values())
    severities = [
        {
            "severity": severity,
            "word": SEVERITY_WORD[severity],
            "sla_percent": percent(figures["by_severity"][severity]["sla"]["compliance"]),
            **figures["by_severity"][severity],
        }
        for severity in Severity.values
    ]
    return render(
        request,
        "insights/page.html",
        {
            "form": form,
            "period": period,
            "period_text": period_text,
            "service": service,
            "figures": figures,
            "sla_percent": percent(figures["sla_compliance"]),
            "sla_totals": {
                "due": sum(row["sla"]["due"] for row in severities),
                "met": sum(row["sla"]["met"] for row in severities),
                "breached": sum(row["sla"]["breached"] for row in severities),
            },
            "severities": severities,
            "states": _state_rows(figures["time_in_state"]),
            "weekly": weekly,
            "response_chart": charts.duration_lines(
                weekly, [("mtta_mean", "MTTA", "series-mtta"), ("mttr_mean", "MTTR", "series-mttr")]
            ),
            "volume_chart": charts.severity_bars(weekly),
            "api_query": api_query(form, period, service),
            "severity_words": [(s, SEVERITY_WORD[s]) for s in Severity.values],
        },
    )
