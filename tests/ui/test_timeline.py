"""The time of a model page in Chromium: deploy and note markers on charts and heat maps (at
the right x), the note form, drag to zoom (the URL follows, back and reset work), and
auto-refresh (the data is swapped in place, the page is not reloaded).

Annotations made here are deleted again: the demo server is shared by every UI test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ui.conftest import MODEL, Demo, Page

M = f"/ui/models/{MODEL}"
OPS = f"{M}?tab=operations"


@pytest.fixture
def marks(demo: Demo) -> Iterator[list[int]]:
    """Ids of annotations a test makes; deleted afterwards."""
    made: list[int] = []
    yield made
    for i in made:
        demo.http.delete(f"/v1/models/{MODEL}/annotations/{i}")


def _annotate(demo: Demo, marks: list[int], at: datetime, text: str, **extra: str) -> float:
    r = demo.http.post(
        f"/v1/models/{MODEL}/annotations",
        json={"text": text, "time": at.isoformat(), **extra},
    )
    assert r.status_code == 201, r.text
    marks.append(r.json()["id"])
    return at.timestamp()


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_markers_are_drawn_at_their_time_on_charts_and_heat_maps(
    page: Page, demo: Demo, marks: list[int], artifacts: object
) -> None:
    at = demo.start + timedelta(days=12, hours=12)
    t = _annotate(demo, marks, at, "v2 rolled out", kind="deploy", author="ci")
    page.open(OPS)
    traffic = page.page.locator('[data-chart="chart-ops-traffic"]')
    traffic.locator(f'.marker[data-marker-t="{t:.0f}"]').wait_for(timeout=30_000)
    # the line sits where the chart's own x scale puts the time
    geo = traffic.evaluate(
        """(el, t) => {
            const over = el.querySelector('.u-over').getBoundingClientRect();
            const m = el.querySelector('.marker[data-marker-t="' + t + '"]');
            const lo = Number(el.dataset.xMin), hi = Number(el.dataset.xMax);
            return {expected: over.left + (t - lo) / (hi - lo) * over.width,
                    got: m.getBoundingClientRect().left, label: m.textContent, title: m.title,
                    lo: lo, hi: hi};
        }""",
        int(t),
    )
    assert geo["lo"] < t < geo["hi"]
    assert abs(geo["got"] - geo["expected"]) <= 1.5, geo
    assert geo["label"] == "deploy: v2 rolled out" and "(ci)" in geo["title"]
    # every chart of the tab whose range holds the time draws it
    counts = page.page.locator("[data-chart]").evaluate_all(
        "els => els.map(e => Number(e.dataset.markers || 0))"
    )
    assert counts and all(c >= 1 for c in counts), counts
    # the heat map marks the column of that day, head and cells
    head = page.page.locator("table.heat th.day.marked")
    assert head.count() == 1
    day = at.replace(hour=0).timestamp()
    assert float(head.get_attribute("data-t") or 0) == day
    assert "v2 rolled out" in (head.locator(".hm-marker").get_attribute("title") or "")
    rows = page.page.locator("table.heat tbody tr").count()
    assert page.page.locator("table.heat td.cell.marked").count() == rows
    # and the list under the tab says it in words (readable without the charts)
    row = page.page.locator(f'#annotations tr[data-annotation="{marks[0]}"]')
    assert "v2 rolled out" in row.inner_text() and "deploy" in row.inner_text()
    page.shot(artifacts, "markers-operations")  # type: ignore[arg-type]
    # the other tabs' charts and heat maps draw it too
    page.open(f"{M}?tab=drift")
    assert page.page.locator("table.heat th.day.marked").count() == 1
    page.open(M)
    assert page.page.locator(f'.plot .marker[data-marker-t="{t:.0f}"]').count() >= 1
    assert page.errors == []


def test_the_form_adds_a_note_and_a_version_is_a_deploy(
    page: Page, demo: Demo, marks: list[int]
) -> None:
    at = demo.start + timedelta(days=3, hours=6)
    r = demo.http.post(f"/v1/models/{MODEL}/versions", json={"version": "v9-marker"})
    assert r.status_code == 201
    try:
        end = (demo.today + timedelta(days=2)).strftime("%Y-%m-%d")
        page.open(f"{OPS}&end={end}")
        # a version's registration is a deploy marker of its own
        assert "version v9-marker" in page.page.locator("#annotations").inner_text()
        page.page.fill("#a-time", at.strftime("%Y-%m-%dT%H:%M"))
        page.page.select_option("#a-kind", "incident")
        page.page.fill("#a-text", "upstream outage")
        with page.page.expect_navigation():
            page.page.click("#annotations button[type=submit]:has-text('Add note')")
        page.page.wait_for_load_state("networkidle")
        assert _query(page.page.url)["end"] == [end]  # back on the same view
        got = demo.http.get(f"/v1/models/{MODEL}/annotations").json()
        made = [a for a in got if a["text"] == "upstream outage"]
        assert len(made) == 1 and made[0]["kind"] == "incident"
        assert made[0]["time"].startswith(at.strftime("%Y-%m-%dT%H:%M"))
        marks.extend(a["id"] for a in made)
        assert page.page.locator(f'.marker[data-marker-t="{at.timestamp():.0f}"]').count() >= 1
        # deleting it from the list
        row = page.page.locator(f'#annotations tr[data-annotation="{made[0]["id"]}"]')
        with page.page.expect_navigation():
            row.locator("button").click()
        assert page.page.locator(f'#annotations tr[data-annotation="{made[0]["id"]}"]').count() == 0
        # a text that is too long is refused with the field named, nothing stored
        page.page.fill("#a-text", "x")
        page.page.evaluate("document.getElementById('a-text').value = 'y'.repeat(501)")
        page.page.evaluate("document.getElementById('a-text').removeAttribute('maxlength')")
        with page.page.expect_navigation():
            page.page.click("#annotations button[type=submit]:has-text('Add note')")
        assert "'text'" in page.page.locator("main").inner_text()
        assert page.errors == [] or all("422" in e for e in page.errors)
    finally:
        demo.http.delete(f"/v1/models/{MODEL}/versions/v9-marker")


def test_dragging_across_a_chart_zooms_and_back_returns(page: Page, demo: Demo) -> None:
    page.open(OPS)
    plot = page.page.locator('[data-chart="chart-ops-traffic"]')
    over = plot.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    lo, hi = (float(plot.get_attribute(a) or 0) for a in ("data-x-min", "data-x-max"))
    x1, x2 = box["x"] + box["width"] * 0.25, box["x"] + box["width"] * 0.75
    y = box["y"] + box["height"] / 2
    page.page.mouse.move(x1, y)
    page.page.mouse.down()
    page.page.mouse.move(x2, y, steps=8)
    with page.page.expect_navigation():
        page.page.mouse.up()
    page.page.wait_for_load_state("networkidle")
    q = _query(page.page.url)
    start = datetime.fromisoformat(q["start"][0] + "+00:00").timestamp()
    end = datetime.fromisoformat(q["end"][0] + "+00:00").timestamp()
    expect_lo, expect_hi = lo + (hi - lo) * 0.25, lo + (hi - lo) * 0.75
    tolerance = (hi - lo) / box["width"] * 2 + 60  # two pixels and the rounding to a minute
    assert abs(start - expect_lo) <= tolerance and abs(end - expect_hi) <= tolerance, (q, lo, hi)
    assert q["tab"] == ["operations"]
    # the page shows the zoomed range: the chart holds only windows inside it
    plot = page.page.locator('[data-chart="chart-ops-traffic"]')
    plot.wait_for()
    assert float(plot.get_attribute("data-x-min") or 0) >= start - 86400
    assert float(plot.get_attribute("data-x-max") or 0) <= end + 86400
    assert page.page.locator("#reset-zoom").count() == 1
    zoomed = page.page.url
    page.page.go_back()
    page.page.wait_for_load_state("networkidle")
    assert "start" not in _query(page.page.url) and page.page.locator("#reset-zoom").count() == 0
    page.page.go_forward()
    page.page.wait_for_load_state("networkidle")
    assert page.page.url == zoomed
    # the filters show the zoomed times and keep them when another filter changes
    assert page.page.input_value("#f-start") == q["start"][0]
    with page.page.expect_navigation():
        page.page.select_option("#f-segment", "region=north")
    q2 = _query(page.page.url)
    assert q2["start"] == q["start"] and q2["end"] == q["end"]
    assert q2["segment"] == ["region=north"]
    with page.page.expect_navigation():
        page.page.click("#reset-zoom")
    q = _query(page.page.url)
    assert "start" not in q and "end" not in q and q["tab"] == ["operations"]
    assert page.errors == []


def test_auto_refresh_swaps_the_data_in_place(
    browser: object, demo: Demo, marks: list[int]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 700})  # type: ignore[attr-defined]
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        pg.clock.install()  # the 30 s interval runs on a clock the test moves
        pg.goto(f"{demo.url}{OPS}")
        pg.wait_for_load_state("networkidle")
        assert pg.input_value("#f-refresh") == ""  # off by default
        with pg.expect_navigation():
            pg.select_option("#f-refresh", "30s")
        assert _query(pg.url)["refresh"] == ["30s"]
        pg.wait_for_load_state("networkidle")
        # links keep it: another tab of the page refreshes too
        assert "refresh=30s" in (pg.locator("nav.tabs a").first.get_attribute("href") or "")
        pg.evaluate("window.__same_page = true; window.scrollTo(0, 400)")
        pg.locator("#tab-body details").first.evaluate("d => d.open = true")
        at = demo.start + timedelta(days=20, hours=3)
        t = _annotate(demo, marks, at, "refreshed in place")
        assert pg.locator(f'.marker[data-marker-t="{t:.0f}"]').count() == 0
        pg.clock.run_for(31_000)
        pg.locator("html[data-refreshes]").wait_for(state="attached", timeout=30_000)
        pg.locator(f'.marker[data-marker-t="{t:.0f}"]').first.wait_for(timeout=30_000)
        assert pg.evaluate("window.__same_page") is True  # not reloaded
        assert pg.evaluate("window.scrollY") == 400
        assert pg.locator("#tab-body details").first.evaluate("d => d.open") is True
        assert "refreshed in place" in pg.locator("#annotations").inner_text()
        assert pg.locator(".plot canvas").count() >= 2  # charts drawn again
        assert errors == []
    finally:
        context.close()
