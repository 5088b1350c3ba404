"""Server-rendered SVG charts of a finding's stored series.

Time runs along x; the threshold (or limit, or baseline) is a dashed line with
its name written on it; the incident start is a vertical line labelled
"incident start". Series differ by dash pattern and are named in a legend, so
nothing depends on colour alone. No script and no chart library: the SVG is
part of the page and survives printing.
"""

from datetime import UTC, datetime
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 14, 30
DASHES = ("", "6 3", "2 3", "8 3 2 3")

# Which number draws the horizontal line, per check.
REFERENCE = {
    "prometheus.request_rate": ("range.baseline", "before"),
    "prometheus.memory_leak": ("range.limit", "limit"),
}


def _timestamp(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _format(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _series_unit(check: str, unit: str) -> str:
    return "bytes" if check == "prometheus.memory_leak" else unit


def _reference(finding: dict) -> tuple[float | None, str]:
    evidence = finding.get("evidence") or {}
    path, label = REFERENCE.get(finding.get("check", ""), ("threshold", "threshold"))
    if path.startswith("range."):
        value = (evidence.get("range") or {}).get(path.split(".", 1)[1])
    else:
        value = evidence.get("threshold")
    return (float(value), label) if isinstance(value, int | float) else (None, label)


def finding_chart(finding: dict) -> SafeString | None:
    """An inline SVG of the finding's series, or None when it has none."""
    evidence = finding.get("evidence") or {}
    series = [s for s in evidence.get("series") or [] if isinstance(s, dict) and s.get("points")]
    if not series:
        return None
    check = finding.get("check", "")
    unit = _series_unit(check, evidence.get("unit", ""))
    points = [(float(ts), float(v)) for s in series for ts, v in s["points"]]
    time_range = evidence.get("range") or {}
    x0 = _timestamp(time_range.get("baseline_start")) or min(ts for ts, _ in points)
    x1 = _timestamp(time_range.get("end")) or max(ts for ts, _ in points)
    x0, x1 = min(x0, min(ts for ts, _ in points)), max(x1, max(ts for ts, _ in points))
    if x1 <= x0:
        x1 = x0 + 60
    reference, reference_label = _reference(finding)
    values = [v for _, v in points] + ([reference] if reference is not None else [])
    y0, y1 = min(0.0, min(values)), max(values)
    if y1 <= y0:
        y1 = y0 + 1
    y1 *= 1.1 if y1 > 0 else 1

    def x(ts: float) -> float:
        return LEFT + (ts - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (1 - (value - y0) / (y1 - y0)) * (HEIGHT - TOP - BOTTOM)

    title = f"{finding.get('check', '')}: {finding.get('summary', '')}"
    parts = [
        f'<svg class="diagnostics-chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
        'fill="none" stroke="currentColor" stroke-opacity="0.25"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = y0 + fraction * (y1 - y0)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor">'
            f"{escape(_format(value, unit))}</text>"
        )
    for fraction in (0.0, 0.5, 1.0):
        ts = x0 + fraction * (x1 - x0)
        anchor = ("start", "middle", "end")[int(fraction * 2)]
        label = datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")
        parts.append(
            f'<text x="{x(ts):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" font-size="11" fill="currentColor">'
            f"{label}</text>"
        )
    start = _timestamp(time_range.get("incident_start"))
    if start is not None and x0 <= start <= x1:
        parts.append(
            f'<line class="chart-incident-start" x1="{x(start):.1f}" x2="{x(start):.1f}" y1="{TOP}" '
            f'y2="{HEIGHT - BOTTOM}" stroke="currentColor" stroke-width="1.5" stroke-dasharray="1 3"/>'
            f'<text x="{x(start) + 4:.1f}" y="{TOP + 11}" font-size="11" fill="currentColor">incident start</text>'
        )
    if reference is not None:
        parts.append(
            f'<line class="chart-threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(reference):.1f}" '
            f'y2="{y(reference):.1f}" stroke="#b42318" stroke-width="1.5" stroke-dasharray="8 4"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(reference) - 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#b42318">{escape(reference_label)} {escape(_format(reference, unit))}</text>'
        )
    legend = []
    for index, item in enumerate(series[:4]):
        coords = " ".join(f"{x(float(ts)):.1f},{y(float(v)):.1f}" for ts, v in item["points"])
        dash = DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline class="chart-series" data-points="{len(item["points"])}" points="{coords}" fill="none" '
            f'stroke="currentColor" stroke-width="1.8"{dash_attr}/>'
        )
        legend.append(
            f'<span class="diagnostics-legend-item"><svg width="26" height="8" aria-hidden="true">'
            f'<line x1="0" x2="26" y1="4" y2="4" stroke="currentColor" stroke-width="2"{dash_attr}/></svg> '
            f"{escape(str(item.get('name', 'series')))}</span>"
        )
    parts.append("</svg>")
    total = sum(len(s["points"]) for s in series)
    return mark_safe(  # noqa: S308 — every text above is escaped; numbers are formatted floats
        f'<figure class="diagnostics-chart" data-series="{len(series)}" data-points="{total}">'
        + "".join(parts)
        + f"<figcaption>{''.join(legend)}</figcaption></figure>"
    )
