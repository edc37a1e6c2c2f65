"""Every page in Chromium against the real server filled by the demo's simulator."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from mlwarden.cli.demo import _post
from mlwarden.server.ui.placement import tab_of
from ui.conftest import MODEL, Demo, Page

M = f"/ui/models/{MODEL}"
PAGES = {
    "overview": "/ui/",
    "performance": M,
    "drift": f"{M}?tab=drift",
    "quality": f"{M}?tab=quality",
    "operations": f"{M}?tab=operations",
    "fairness": f"{M}?tab=fairness",
    "incidents-tab": f"{M}?tab=incidents",
    "performance-north": f"{M}?segment=region%3Dnorth",
    "monitors": f"{M}/monitors",
    "compare": f"{M}/compare?a=v1&b=v2",
    "incidents": "/ui/incidents",
}


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_loads_without_console_errors(
    name: str, page: Page, demo: Demo, artifacts: Path
) -> None:
    response = page.open(PAGES[name])
    assert response.status == 200
    assert page.page.locator("main h1").count() == 1
    page.shot(artifacts, name)
    assert page.errors == []
    if name in ("performance", "operations", "compare"):  # uPlot drew into the chart slots
        assert page.page.locator(".plot canvas").count() >= 2


def test_incident_page_loads(page: Page, demo: Demo, artifacts: Path) -> None:
    items = demo.http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    assert items, "the drift opened no incident"
    page.open(f"/ui/incidents/{items[0]['id']}")
    assert page.page.locator("h1").inner_text() == items[0]["title"]
    for heading in (
        "Recommendation",
        "Likely causes and slices",
        "Objectives affected",
        "Notifications and actions",
        "Timeline",
    ):
        assert page.page.get_by_role("heading", name=heading).count() == 1
    # links go to the tabs of the incident's monitors (a drift incident: not Operations)
    links = page.page.locator("#incident-links a")
    tabs = {
        _query(links.nth(i).get_attribute("href") or "")["tab"][0] for i in range(links.count())
    }
    assert tabs == {tab_of(m["monitor"]) for m in items[0]["members"]}, tabs
    page.shot(artifacts, "incident")
    assert page.errors == []


def test_operations_heat_map_has_resource_monitors_and_unknown_segments_are_said(
    page: Page, demo: Demo
) -> None:
    page.open(f"{M}?tab=operations")
    rows = page.page.locator("table.heat tbody tr").evaluate_all("r => r.map(x => x.dataset.row)")
    assert any(r.startswith("resources") for r in rows), rows
    assert any(r.startswith("volume") for r in rows), rows
    axes = page.page.locator(".plot").evaluate_all(
        "els => els.map(e => [e.dataset.yMax, JSON.parse(e.dataset.xLabels)])"
    )
    error_max = float(axes[1][0])  # the error-rate chart: a share, not 0 to 10,000 %
    assert 0 < error_max <= 1
    # every table downloads as CSV: the heat map with its dates and statuses
    with page.page.expect_download() as info:
        page.page.locator(".heat-wrap + .csv-link a").click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0].startswith("name,") and re.search(r",\d{4}-\d{2}-\d{2}", lines[0])
    assert any(row.startswith("resources") for row in lines[1:])
    assert {c for row in lines[1:] for c in row.split(",")[1:]} <= {
        "ok",
        "warn",
        "alert",
        "insufficient_data",
        "no_data",
    }
    # quick ranges: the last 7 days, in the URL
    with page.page.expect_navigation():
        page.page.locator('#view-summary a[data-range="7d"]').click()
    q = _query(page.page.url)
    assert q["tab"] == ["operations"] and "start" in q and "end" in q
    assert len(page.page.locator("table.heat th.day").all_inner_texts()) <= 7
    assert page.errors == []
    response = page.open(f"{M}?tab=operations&segment=region%3Dnowhere")
    assert response.status == 200
    notice = page.page.locator("#unknown-segment").inner_text()
    assert "region=nowhere" in notice and "region=north" in notice


def _cells(page: Page, row: str) -> list[tuple[str, str]]:
    cells = page.page.locator(f'tr[data-row="{row}"] td.cell')
    return [
        (
            cells.nth(i).get_attribute("data-window") or "",
            cells.nth(i).get_attribute("data-status") or "",
        )
        for i in range(cells.count())
    ]


def test_drift_heat_map_shows_the_injected_drift(page: Page, demo: Demo) -> None:
    page.open(f"{M}?tab=drift")
    rows = page.page.locator("table.heat tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.row)"
    )
    features = [r for r in rows if r not in ("score", "prediction")]
    assert "credit_score" in features[:2], rows  # the drifted input is among the most important
    cells = _cells(page, "credit_score")
    assert len(cells) == 30
    onset = demo.drift_start.strftime("%Y-%m-%d")
    before = [s for w, s in cells if w < onset]
    after = [s for w, s in cells if w >= onset]
    assert "alert" not in before  # thresholds are calibrated: no false alert before the drift
    assert after[-5:].count("alert") >= 4  # national shift from day D+7 alerts every day
    # an undrifted feature stays quiet
    assert [s for _, s in _cells(page, "age")].count("alert") == 0
    # statuses are not told by colour alone
    label = page.page.locator('tr[data-row="credit_score"] td.cell a').last.get_attribute(
        "aria-label"
    )
    assert label and "alert" in label and "credit_score" in label
    assert page.errors == []


def test_clicking_a_cell_opens_reference_vs_current(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    page.open(f"{M}?tab=drift")
    page.page.locator('tr[data-row="credit_score"] td.cell[data-status="alert"] a').last.click()
    page.page.wait_for_load_state("networkidle")
    q = _query(page.page.url)
    assert q["feature"] == ["credit_score"] and q["tab"] == ["drift"] and "window" in q
    drill = page.page.locator("#drilldown")
    assert "credit_score" in drill.locator("h3").inner_text()
    assert drill.locator("svg.bars rect.ref").count() >= 10
    assert drill.locator("svg.bars rect.cur").count() >= 10
    # the histogram has a share axis and names its bins
    yticks = drill.locator("svg.bars text.ytick").all_text_contents()
    assert len(yticks) >= 3 and all(t.endswith("%") for t in yticks) and yticks[0] == "0%"
    assert drill.locator("svg.bars text.xtick").count() >= 3
    assert "percentile" in drill.locator("svg.bars text.xtitle").text_content()
    hist = drill.locator("table.histogram tbody tr")
    assert hist.count() >= 10
    # the current distribution moved: the lowest bins hold more than the reference's share
    first = hist.first.locator("td")
    ref, cur = (float((first.nth(i).text_content() or "").rstrip("%")) for i in (0, 1))
    assert cur > ref
    assert page.page.evaluate("document.activeElement.id") == "drilldown"
    page.shot(artifacts, "drift-drilldown")
    assert page.errors == []


def test_filters_change_the_url_and_a_reload_restores_the_view(page: Page, demo: Demo) -> None:
    page.open(f"{M}?tab=drift")
    with page.page.expect_navigation():
        page.page.select_option("#f-segment", "region=north")
    assert _query(page.page.url)["segment"] == ["region=north"]
    with page.page.expect_navigation():
        page.page.select_option("#f-sort", "drift")
    start = (demo.today - timedelta(days=10)).strftime("%Y-%m-%d")
    with page.page.expect_navigation():
        page.page.fill("#f-start", start)  # fill fires the input's change event
    page.page.wait_for_load_state("networkidle")
    q = _query(page.page.url)
    assert q["segment"] == ["region=north"] and q["sort"] == ["drift"] and q["start"] == [start]
    assert q["tab"] == ["drift"]
    first_rows = page.page.locator("table.heat tbody tr").evaluate_all(
        "r => r.map(x => x.dataset.row)"
    )
    url = page.page.url
    page.page.reload()
    page.page.wait_for_load_state("networkidle")
    assert page.page.url == url
    assert page.page.input_value("#f-segment") == "region=north"
    assert page.page.input_value("#f-sort") == "drift"
    assert page.page.input_value("#f-start") == start
    assert "region=north" in page.page.locator("#view-summary").inner_text()
    assert (
        page.page.locator("table.heat tbody tr").evaluate_all("r => r.map(x => x.dataset.row)")
        == first_rows
    )
    assert len(page.page.locator("table.heat thead th.day").all()) == 10
    # the same URL in a fresh page gives the same view
    other = page.page.context.new_page()
    other.goto(url)
    assert other.input_value("#f-segment") == "region=north"
    other.close()
    assert page.errors == []


def test_keyboard_reaches_and_follows_the_tabs(page: Page, demo: Demo) -> None:
    page.open(M)
    page.page.keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.className") == "skip"
    focused = ""
    for _ in range(60):
        page.page.keyboard.press("Tab")
        focused = page.page.evaluate(
            "document.activeElement.closest('nav.tabs') ? document.activeElement.textContent : ''"
        )
        if focused:
            break
    assert focused == "Performance"
    page.page.keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.textContent") == "Drift"
    with page.page.expect_navigation():
        page.page.keyboard.press("Enter")
    assert _query(page.page.url)["tab"] == ["drift"]
    assert page.page.locator('nav.tabs a[aria-current="page"]').inner_text() == "Drift"
    # every form control has a label
    unlabeled = page.page.evaluate(
        "[...document.querySelectorAll('select, input:not([type=hidden]), textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).length"
    )
    assert unlabeled == 0


@pytest.mark.parametrize("path", ["/ui/", f"{M}?tab=drift"])
def test_a_narrow_window_has_no_horizontal_overflow(
    browser: object, demo: Demo, artifacts: Path, path: str
) -> None:
    context = browser.new_context(viewport={"width": 400, "height": 800})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.goto(demo.url + path)
    pg.wait_for_load_state("networkidle")
    overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    pg.screenshot(
        path=str(artifacts / f"narrow-{'overview' if path == '/ui/' else 'drift'}.png"),
        full_page=True,
    )
    context.close()
    assert overflow <= 0


def test_monitors_edit_preview_and_reapply(page: Page, demo: Demo) -> None:
    page.open(f"{M}/monitors")
    plan = page.page.locator("table.plan tbody tr")
    assert plan.count() >= 20
    text = page.page.input_value("#spec")
    assert "false_alarm_budget: 1 per 30 days" in text
    page.page.fill("#spec", text.replace("kind: feature_drift", "kind: no_such_kind", 1))
    page.page.get_by_role("button", name="Preview").click()
    page.page.wait_for_load_state("networkidle")
    assert "no_such_kind" in page.page.locator(".error").inner_text()
    assert "no_such_kind" in page.page.input_value("#spec")  # the edit is kept
    edited = text.replace("false_alarm_budget: 1 per 30 days", "false_alarm_budget: 1 per 60 days")
    page.page.fill("#spec", edited)
    page.page.get_by_role("button", name="Preview").click()
    page.page.wait_for_load_state("networkidle")
    assert "Nothing was stored" in page.page.locator(".notice").inner_text()
    stored = demo.http.get(f"/v1/models/{MODEL}/monitors").json()
    assert stored["false_alarm_budget"] == "1 per 30 days"
    page.page.get_by_role("button", name="Apply").click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.locator(".notice").inner_text() == "Applied."
    stored = demo.http.get(f"/v1/models/{MODEL}/monitors").json()
    assert stored["false_alarm_budget"] == "1 per 60 days"
    assert page.errors == []


def test_version_comparison_shows_both_versions(page: Page, demo: Demo) -> None:
    page.open(f"{M}/compare")
    rows = page.page.locator("table.compare-summary tbody tr")
    assert rows.evaluate_all("r => r.map(x => x.dataset.version)") == ["v1", "v2"]
    events = [int(re.sub(r"\D", "", rows.nth(i).locator("td").first.inner_text())) for i in (0, 1)]
    assert events[1] == 5 * 800 and events[0] > events[1]
    with page.page.expect_navigation():
        page.page.select_option("#f-b", "")
    assert "b" not in _query(page.page.url) or _query(page.page.url).get("b") == [""]
    assert page.errors == []


def test_acknowledge_an_incident_from_the_ui(page: Page, demo: Demo, artifacts: Path) -> None:
    page.open("/ui/incidents?state=open")
    assert _query(page.page.url)["state"] == ["open"]
    link = page.page.locator("table.incidents tbody tr th a").first
    incident_id = int((link.get_attribute("href") or "").rsplit("/", 1)[1])
    link.click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.locator("#incident-state").inner_text() == "open"
    page.page.fill("#by", "Ada")
    page.page.fill("#note", "looking at the bureau change")
    page.page.get_by_role("button", name="Acknowledge").click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.locator("#incident-state").inner_text() == "acknowledged"
    assert page.page.locator(".notice").inner_text() == "Acknowledged."
    timeline = page.page.locator("#timeline").inner_text()
    assert "acknowledged by Ada: looking at the bureau change" in timeline
    assert page.page.get_by_role("button", name="Acknowledge").count() == 0
    api = demo.http.get(f"/v1/incidents/{incident_id}").json()
    assert api["state"] == "acknowledged"
    page.shot(artifacts, "incident-acknowledged")
    assert page.errors == []


def test_long_lists_are_paginated_and_the_page_is_in_the_url(page: Page, demo: Demo) -> None:
    page.open(f"{M}/monitors")
    first = page.page.locator("table.plan tbody tr").evaluate_all(
        "r => r.map(x => x.querySelector('th').textContent)"
    )
    assert len(first) == 50
    pager = page.page.get_by_role("navigation", name="Monitor pages")
    assert "Page 1 of 2" in pager.inner_text()
    with page.page.expect_navigation():
        pager.get_by_role("link", name="Next ›").click()
    assert _query(page.page.url)["page"] == ["2"]
    rest = page.page.locator("table.plan tbody tr").evaluate_all(
        "r => r.map(x => x.querySelector('th').textContent)"
    )
    assert rest and not set(rest) & set(first)
    page.page.reload()
    assert "Page 2 of 2" in page.page.get_by_role("navigation", name="Monitor pages").inner_text()
    assert page.errors == []


def test_operations_filters_by_version_and_segment(page: Page, demo: Demo) -> None:
    page.open(f"{M}?tab=operations")
    summary = page.page.locator("#tab-title + p").inner_text()
    assert f"{demo.events:,} events" in summary and "versions v1, v2" in summary
    # shares are shown as percentages in the charts' tables
    cells = page.page.locator(
        "figure:has(figcaption:text-is('Error rate')) details.datatable tbody td"
    )
    texts = cells.all_text_contents()
    assert texts and all(t.endswith("%") or t == "–" for t in texts), texts[:5]
    with page.page.expect_navigation():
        page.page.select_option("#f-version", "v2")
    assert _query(page.page.url)["version"] == ["v2"]
    assert "4,000 events" in page.page.locator("#tab-title + p").inner_text()
    # one segment: counted from its events, with exact latency quantiles
    with page.page.expect_navigation():
        page.page.select_option("#f-segment", "region=north")
    q = _query(page.page.url)
    assert q["segment"] == ["region=north"] and q["version"] == ["v2"]
    events = int(
        re.sub(r"\D", "", page.page.locator("#tab-title + p").inner_text().split(" events")[0])
    )
    assert 0 < events < 4000
    assert "exact" in page.page.locator("main").inner_text()
    assert page.errors == []


def test_an_incident_lists_its_causes_without_empty_sections(page: Page, demo: Demo) -> None:
    items = demo.http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    # the drift incident (the latency one can be the most recently active)
    drift = next(i for i in items if i["kind"] == "drift")
    page.open(f"/ui/incidents/{drift['id']}")
    section = page.page.locator("main").inner_text().split("Likely causes and slices")[1]
    section = section.split("Objectives affected")[0]
    assert "credit_score" in section
    headings = page.page.locator("h3").all_inner_texts()
    for h in headings:  # every heading of a finding is followed by something
        nxt = page.page.locator(f"h3:text-is('{h}') + *").first
        assert nxt.inner_text().strip(), h
    assert page.errors == []


def test_rejected_rows_keep_their_payload_and_are_listed(page: Page, demo: Demo) -> None:
    now = demo.today.isoformat()
    # the SDK's way (Arrow): the row's own values must reach the quarantine, not "null"
    table = pa.table(
        {
            "event_id": ["q-arrow-1", "q-arrow-2"],
            "timestamp": pa.array([demo.today, demo.today], pa.timestamp("us", tz="UTC")),
            "prediction": [0, 1],
            "latency_ms": [-5.0, 3.0],
        }
    )
    out = _post(demo.http, f"/v1/models/{MODEL}/events", table)
    assert out["rejected_count"] == 1, out
    # curl's way (JSON)
    r = demo.http.post(
        f"/v1/models/{MODEL}/events",
        json=[{"event_id": "q-json-1", "timestamp": now, "prediction": 0, "latency_ms": -1.0}],
    )
    assert r.status_code == 422, r.text
    page.open(f"{M}/quarantine")
    rows = page.page.locator("table.quarantine tbody tr")
    assert rows.count() >= 2
    text = {rows.nth(i).locator("td.payload pre").text_content() for i in range(rows.count())}
    arrow = next(t for t in text if t and "q-arrow-1" in t)
    assert '"latency_ms": -5.0' in arrow and "q-arrow-2" not in arrow
    assert any(t and "q-json-1" in t for t in text)
    assert "null" not in text
    assert "latency_ms" in page.page.locator("table.reasons").inner_text()
    assert page.errors == []
