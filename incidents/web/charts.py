"""Server-rendered charts for the insights page: geometry for inline SVG, computed here, drawn by templates.

No chart library and no script: a chart is a handful of paths and rectangles. Meaning never rests on
colour alone: series differ by dash pattern and marker shape, severities by fill pattern, and every
chart has a text legend, value labels and a table of the same figures beside it.
"""

import math
from dataclasses import dataclass

from incidents.models import Severity
from incidents.templatetags.orion import SEVERITY_WORD, duration

# Steps for a time axis, in seconds: readable round values from a minute to a month.
DURATION_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000)
TICKS = 4


@dataclass(frozen=True)
class Frame:
    width: int = 640
    height: int = 240
    left: int = 64
    right: int = 16
    top: int = 16
    bottom: int = 40

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.height - self.bottom

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def label_x(self) -> float:
        """Where the y-axis labels end (right-aligned)."""
        return self.left - 8

    @property
    def label_y(self) -> float:
        """The baseline of the week labels under the plot."""
        return self.baseline + 20

    def y(self, value: float, top_value: float) -> float:
        return round(self.baseline - (value / top_value) * self.plot_height, 1) if top_value else self.baseline


def week_label(week: str) -> str:
    """ "2026-11-23" → "23 Nov": the Monday a week starts."""
    from datetime import date

    day = date.fromisoformat(week[:10])
    return f"{day.day} {day:%b}"


def _duration_top(largest: float) -> tuple[float, float]:
    """A round axis top and step for durations up to ``largest`` seconds."""
    for step in DURATION_STEPS:
        if largest <= step * TICKS:
            return step * max(1, math.ceil(largest / step)), step
    step = DURATION_STEPS[-1]
    return step * math.ceil(largest / step), step


def _count_top(largest: int) -> tuple[int, int]:
    step = max(1, math.ceil(largest / TICKS))
    if step > 5:
        magnitude = 10 ** int(math.log10(step))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= step)
    return step * max(1, math.ceil(largest / step)), step


def _x_positions(frame: Frame, count: int) -> list[float]:
    if count == 1:
        return [frame.left + frame.plot_width / 2]
    gap = frame.plot_width / (count - 1)
    return [round(frame.left + i * gap, 1) for i in range(count)]


def _label_every(count: int) -> int:
    """Label every week up to 13 (a quarter), then every other one, so labels do not collide."""
    return 1 if count <= 13 else math.ceil(count / 13)


def labelled(index: int, count: int, every: int) -> bool:
    """Label every ``every``-th week counting back from the latest, so the latest week always has its label."""
    return (count - 1 - index) % every == 0


def duration_lines(weeks: list[dict], series: list[tuple[str, str, str]], frame: Frame | None = None) -> dict | None:
    """A line per series (key in each week, label, css class) over the weeks; None when there is nothing to draw."""
    frame = frame or Frame()
    values = [week.get(key) for week in weeks for key, _, _ in series]
    present = [v for v in values if v is not None]
    if not weeks or not present:
        return None
    top, step = _duration_top(max(present))
    xs = _x_positions(frame, len(weeks))
    lines = []
    for key, label, css in series:
        points = []
        for x, week in zip(xs, weeks, strict=True):
            value = week.get(key)
            if value is not None:
                points.append(
                    {
                        "x": x,
                        "y": frame.y(value, top),
                        # The square marker's corner, 4 px up and left of the point.
                        "corner_x": round(x - 4, 1),
                        "corner_y": round(frame.y(value, top) - 4, 1),
                        "text": duration(value),
                        "title": f"{label}, week of {week_label(week['week'])}: {duration(value)}",
                    }
                )
        path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points))
        last = points[-1] if points else None
        lines.append({"key": key, "label": label, "css": css, "path": path, "points": points, "last": last})
    every = _label_every(len(weeks))
    return {
        "frame": frame,
        "y_ticks": [
            {"y": frame.y(value, top), "text": duration(value) if value else "0"}
            for value in range(0, int(top) + 1, int(step))
        ],
        "x_labels": [
            {"x": x, "text": week_label(week["week"])}
            for i, (x, week) in enumerate(zip(xs, weeks, strict=True))
            if labelled(i, len(weeks), every)
        ],
        "lines": lines,
    }


def severity_bars(weeks: list[dict], frame: Frame | None = None) -> dict | None:
    """Incidents per week, one stacked bar per week, one patterned segment per severity; None when empty."""
    frame = frame or Frame(left=40)
    totals = [sum(week["incidents"].values()) for week in weeks]
    if not weeks or not any(totals):
        return None
    top, step = _count_top(max(totals))
    slot = frame.plot_width / len(weeks)
    bar_width = round(min(48.0, slot * 0.7), 1)
    every = _label_every(len(weeks))
    bars = []
    for i, (week, total) in enumerate(zip(weeks, totals, strict=True)):
        x = round(frame.left + i * slot + (slot - bar_width) / 2, 1)
        segments, running = [], 0
        for severity in Severity.values:
            count = week["incidents"].get(severity, 0)
            if not count:
                continue
            y_top = frame.y(running + count, top)
            segments.append(
                {
                    "severity": severity,
                    "css": severity.lower(),
                    "y": y_top,
                    "height": round(frame.y(running, top) - y_top, 1),
                    "title": f"Week of {week_label(week['week'])}: {count} {severity} ({SEVERITY_WORD[severity]})",
                }
            )
            running += count
        bars.append(
            {
                "x": x,
                "width": bar_width,
                "center": round(x + bar_width / 2, 1),
                "total": total,
                "total_y": frame.y(total, top) - 5,
                "segments": segments,
                "label": week_label(week["week"]) if labelled(i, len(weeks), every) else "",
            }
        )
    return {
        "frame": frame,
        "y_ticks": [{"y": frame.y(value, top), "text": str(value)} for value in range(0, top + 1, step)],
        "bars": bars,
        "legend": [{"severity": s, "css": s.lower(), "word": SEVERITY_WORD[s]} for s in Severity.values],
    }


def weeks_filled(weekly: list[dict], start, end) -> list[dict]:
    """Every week (from its Monday) between ``start`` and ``end``: weeks without incidents count zero, not gaps."""
    from datetime import timedelta

    by_week = {week["week"][:10]: week for week in weekly}
    monday = start.date() - timedelta(days=start.date().weekday())
    filled = []
    while monday < end.date() or (monday == end.date() and end.time() != end.time().min):
        key = monday.isoformat()
        filled.append(
            by_week.get(key)
            or {"week": key, "incidents": dict.fromkeys(Severity.values, 0), "mtta_mean": None, "mttr_mean": None}
        )
        monday += timedelta(days=7)
    return filled
