"""Every chart kind drawn in Chromium with the shapes that broke axes: 1, 2 and 1,000 points,
an all-zero and an all-equal series, hourly and daily buckets.

The charts are rendered by the pages' own ``chart`` macro and script (uPlot and ``app.js``
inlined into one test page, no server needed); the axes uPlot drew are read back from the
``data-x-*``/``data-y-*`` attributes the script writes, and a screenshot is saved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlwarden.server.ui.routing import STATIC_DIR, templates
from mlwarden.server.ui.views import Chart
from ui.conftest import Page

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOUR, DAY = 3600.0, 86400.0
YEAR = 365 * DAY


def _shapes() -> dict[str, tuple[list[float], list[float], float]]:
    """name -> (x, values, bucket)."""
    wave = [0.5 + 0.4 * math.sin(i / 40) for i in range(1000)]
    return {
        "one-day": ([T0], [0.0123], DAY),
        "one-hour": ([T0], [0.0123], HOUR),
        "two-days": ([T0, T0 + DAY], [0.01, 0.012], DAY),
        "two-hours": ([T0, T0 + HOUR], [0.01, 0.012], HOUR),
        "thousand-hours": ([T0 + i * HOUR for i in range(1000)], wave, HOUR),
        "thousand-days": ([T0 + i * DAY for i in range(1000)], wave, DAY),
        "all-zero": ([T0 + i * DAY for i in range(5)], [0.0] * 5, DAY),
        "all-equal": ([T0 + i * DAY for i in range(5)], [6.33e-05] * 5, DAY),
    }


def _charts() -> list[tuple[Chart, list[float]]]:
    out = []
    for fmt in ("num", "pct", "usd"):
        for name, (x, values, step) in _shapes().items():
            c = Chart(id=f"{fmt}-{name}", title=f"{fmt} {name}", y_label=fmt, y_format=fmt)
            c.x, c.x_step = x, step
            scale = 1000.0 if fmt == "num" else 1.0
            c.add("value", [v * scale for v in values])
            out.append((c, [v * scale for v in values]))
    band = Chart(id="band-two", title="estimate with band", y_label="accuracy")
    band.x = [T0, T0 + DAY]
    band.add("estimated", [0.9, 0.91])
    band.add("lower", [0.85, 0.86], band=True)
    band.add("upper", [0.95, 0.96], band=True)
    band.add("alert threshold", [0.8, 0.8], dash=[2, 3])
    band.bands.append([3, 2])
    out.append((band, [0.8, 0.85, 0.96]))
    return out


def _html(charts: list[Chart]) -> str:
    body = templates.env.from_string(
        '{% from "macros.html" import chart %}'
        '<div class="grid">{% for c in charts %}<div class="card">{{ chart(c) }}</div>'
        "{% endfor %}</div>"
    ).render(charts=charts)
    css = (STATIC_DIR / "app.css").read_text() + (
        STATIC_DIR / "vendor/uplot/uPlot.min.css"
    ).read_text()
    js = (STATIC_DIR / "vendor/uplot/uPlot.iife.min.js").read_text()
    app = (STATIC_DIR / "app.js").read_text()
    return (
        f"<!doctype html><html><head><style>{css}</style></head><body><main>{body}</main>"
        f"<script>{js}</script><script>{app}</script></body></html>"
    )


@pytest.fixture(scope="module")
def drawn(browser: Any, artifacts: Path) -> Iterator[tuple[list[tuple[Chart, list[float]]], Any]]:
    charts = _charts()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    wrapped = Page(pg, "")
    pg.on("pageerror", lambda exc: wrapped.errors.append(str(exc)))
    pg.on("console", lambda m: wrapped.errors.append(m.text) if m.type == "error" else None)
    pg.set_content(_html([c for c, _ in charts]))
    pg.wait_for_function(
        f"document.querySelectorAll('.plot[data-y-labels][data-y-max]').length === {len(charts)}"
    )
    wrapped.shot(artifacts, "charts")
    assert wrapped.errors == []
    axes = pg.locator(".plot").evaluate_all(
        """els => els.map(e => ({
            id: e.getAttribute('data-chart'),
            x: [Number(e.dataset.xMin), Number(e.dataset.xMax)],
            y: [Number(e.dataset.yMin), Number(e.dataset.yMax)],
            xl: JSON.parse(e.dataset.xLabels), yl: JSON.parse(e.dataset.yLabels)}))"""
    )
    yield charts, {a["id"].removeprefix("chart-"): a for a in axes}
    context.close()


def test_every_chart_has_readable_axes(drawn: Any) -> None:
    charts, axes = drawn
    for chart, values in charts:
        a = axes[chart.id]
        lo, hi = a["y"]
        assert lo <= min(values) and max(values) <= hi, (chart.id, a["y"], values)
        assert hi > lo
        # no more than ten times the data's own spread (or its magnitude, or a small span)
        spread = max(values) - min(values) or abs(max(values)) or 0.01
        assert hi - lo <= 10 * spread or hi - lo <= 1.0 and max(values) == 0, (chart.id, a["y"])
        assert 2 <= len(a["yl"]) <= 9 and len(set(a["yl"])) == len(a["yl"]), (chart.id, a["yl"])
        assert all(a["yl"]), a["yl"]
        xlo, xhi = a["x"]
        assert xlo <= min(chart.x) and max(chart.x) <= xhi
        bucket = chart.x_step or DAY
        assert xhi - xlo <= max(2 * bucket, max(chart.x) - min(chart.x)) + 1, (chart.id, a["x"])
        assert 1 <= len(a["xl"]) <= 8 and len(set(a["xl"])) == len(a["xl"]), (chart.id, a["xl"])
        assert "2027" not in " ".join(a["xl"]) or "thousand-days" in chart.id


def test_tick_labels_follow_the_format_and_the_span(drawn: Any) -> None:
    _, axes = drawn
    # an all-zero error rate spans 0-1 %, not 0-10,000 %
    assert axes["pct-all-zero"]["y"] == [0, 0.01]
    assert axes["pct-all-zero"]["yl"][0] == "0.0%" and axes["pct-all-zero"]["yl"][-1] == "1.0%"
    # tiny costs: dollars written out, distinct ticks
    usd = axes["usd-all-equal"]["yl"]
    assert all(label.startswith("$0.0000") for label in usd) and "e" not in "".join(usd)
    assert all("%" in label for label in axes["pct-two-days"]["yl"])
    # sub-day buckets: hours on the time axis (the date under the first tick)
    assert ":" in axes["num-two-hours"]["xl"][0] and "Jan 01" in axes["num-two-hours"]["xl"][0]
    assert all(":" in label for label in axes["pct-one-hour"]["xl"])
    assert axes["pct-one-hour"]["x"] == [T0 - HOUR, T0 + HOUR]
    # days: no hours; a single daily point sits between its neighbouring days
    assert not any(":" in label for label in axes["num-two-days"]["xl"])
    assert any("Jan 01" in label for label in axes["usd-one-day"]["xl"])
    assert axes["usd-one-day"]["x"] == [T0 - DAY, T0 + DAY]
    # 1,000 days: months with the year
    assert any("2027" in label for label in axes["num-thousand-days"]["xl"])
    assert axes["num-thousand-days"]["x"][1] - axes["num-thousand-days"]["x"][0] < 3 * YEAR


def test_data_table_writes_costs_out(drawn: Any) -> None:
    charts, _ = drawn
    html = _html([c for c, _ in charts if c.id == "usd-all-equal"])
    assert "$0.0000633" in html and "e-05" not in html.split("<script")[0]
    payload = next(c for c, _ in charts if c.id == "usd-all-equal").payload()
    assert json.dumps(payload["yAxis"]["labels"]).count("$") == len(payload["yAxis"]["labels"])


def test_sub_day_heat_map_columns_read_hours_under_their_day(browser: Any, artifacts: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from mlwarden.server.ui.state import ViewState
    from mlwarden.server.ui.views import heat_map

    start = datetime(2026, 1, 1, 21, tzinfo=UTC)
    windows = [start + timedelta(hours=6 * i) for i in range(12)]  # 6-hourly, 4 days
    rows = [
        {"monitor": f"volume:{m}", "column": None, "window_start": w, "status": "ok",
         "value": 1.0, "threshold": 2.0, "kind": "volume", "reason": ""}
        for m in ("a", "b") for w in windows
    ]  # fmt: skip
    hm = heat_map(rows, lambda m, w: "#", name_of=lambda r: r["monitor"])
    assert hm.subday
    body = templates.env.from_string(
        '{% from "macros.html" import heatmap %}{{ heatmap(hm, state, "Monitors") }}'
    ).render(hm=hm, state=ViewState())
    context = browser.new_context(viewport={"width": 1280, "height": 600})
    pg = context.new_page()
    css = (STATIC_DIR / "app.css").read_text()
    pg.set_content(f"<!doctype html><html><head><style>{css}</style></head><body>{body}</body>")
    heads = pg.locator("th.day").all_inner_texts()
    assert heads == ["21", "03", "09", "15", "21", "03", "09", "15", "21", "03", "09", "15"]
    days = pg.locator("th.dayhead").all_inner_texts()
    assert days == ["01", "Jan 02", "Jan 03", "Jan 04"]
    keys = pg.locator('tr[data-row="volume:a"] td.cell').evaluate_all(
        "cs => cs.map(c => c.dataset.window)"
    )
    assert len(set(keys)) == 12 and keys[0] == "2026-01-01 21:00"
    assert "hour of the day" in pg.locator("#heat-legend").inner_text()
    # the first column is whole: right of the row heads, not under them
    head = pg.locator("thead th.rowhead").bounding_box()
    first = pg.locator("th.day").first.bounding_box()
    assert first["x"] >= head["x"] + head["width"] - 0.5 and first["width"] >= 20
    pg.screenshot(path=str(artifacts / "heat-subday.png"), full_page=True)
    context.close()


def test_dark_mode_follows_the_system_setting(browser: Any, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 500}, color_scheme="dark")
    pg = context.new_page()
    chart = _charts()[2][0]  # num two-days
    pg.set_content(_html([chart]))
    pg.wait_for_function("document.querySelector('.plot[data-y-max]') !== null")
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    fg = pg.evaluate("getComputedStyle(document.body).color")
    assert bg == "rgb(18, 20, 23)" and fg == "rgb(230, 230, 230)"
    card = pg.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    assert card == "rgb(24, 27, 32)"
    pg.screenshot(path=str(artifacts / "charts-dark.png"), full_page=True)
    context.close()


def test_chart_data_tables_download_as_csv(drawn: Any, browser: Any, tmp_path: Path) -> None:
    charts, _ = drawn
    chart = next(c for c, _ in charts if c.id == "usd-all-equal")
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.set_content(_html([chart]))
    assert pg.locator(".csv-link").count() == 1  # the data table's, not the legend's
    pg.locator("details.datatable summary").click()
    with pg.expect_download() as info:
        pg.locator(".csv-link a").click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0] == "window,value" and len(lines) == 6
    assert lines[1] == "2026-01-01,$0.0000633"
    context.close()
