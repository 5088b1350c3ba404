"""Chart geometry for the insights page: empty weeks are zeros, axes are round, the latest week is labelled."""

from datetime import UTC, datetime

from incidents.web import charts


def week(day, counts=(0, 0, 0, 0), mtta=None, mttr=None):
    return {
        "week": day,
        "incidents": dict(zip(("P0", "P1", "P2", "P3"), counts, strict=True)),
        "mtta_mean": mtta,
        "mttr_mean": mttr,
    }


def test_weeks_without_incidents_are_zero_not_gaps():
    filled = charts.weeks_filled(
        [week("2026-11-02", (1, 0, 0, 0))], datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC)
    )
    assert [w["week"] for w in filled] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"]
    assert [sum(w["incidents"].values()) for w in filled] == [0, 1, 0, 0]


def test_stacked_bars_add_up_and_sit_on_the_baseline():
    chart = charts.severity_bars([week("2026-11-02", (1, 2, 0, 3)), week("2026-11-09", (0, 0, 0, 0))])
    bar = chart["bars"][0]
    assert bar["total"] == 6 and [s["severity"] for s in bar["segments"]] == ["P0", "P1", "P3"]
    frame = chart["frame"]
    assert bar["segments"][0]["y"] + bar["segments"][0]["height"] == frame.baseline
    assert chart["y_ticks"][-1]["text"] == "6" and chart["bars"][1]["segments"] == []


def test_duration_axis_is_round_and_missing_weeks_have_no_point():
    chart = charts.duration_lines(
        [week("2026-11-02", mtta=300, mttr=5000), week("2026-11-09")],
        [("mtta_mean", "MTTA", "a"), ("mttr_mean", "MTTR", "b")],
    )
    assert [t["text"] for t in chart["y_ticks"]] == ["0", "30 min", "1 h", "1 h 30 min"]
    assert [len(line["points"]) for line in chart["lines"]] == [1, 1]
    assert chart["lines"][1]["last"]["text"] == "1 h 23 min"


def test_nothing_to_draw_is_none():
    assert charts.duration_lines([week("2026-11-02")], [("mtta_mean", "MTTA", "a")]) is None
    assert charts.severity_bars([week("2026-11-02")]) is None


def test_many_weeks_label_every_other_counting_back_from_the_latest():
    weeks = [week(f"2026-{m:02d}-0{d}", (1, 0, 0, 0)) for m in range(1, 8) for d in (1, 8)]
    labels = [b["label"] for b in charts.severity_bars(weeks)["bars"]]
    assert labels[-1] == "8 Jul" and labels[-2] == "" and sum(1 for label in labels if label) == 7
