"""The compare page's time-window mode, window B as the reference, and the header's search, in
Chromium against the real server filled by the demo's simulator."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlwarden.server.ui.format import num
from ui.conftest import MODEL, Demo, Page

W = f"/ui/models/{MODEL}/compare/windows"


def _windows(demo: Demo) -> dict[str, str]:
    """Days 10-17 (before the drift) against days 22-29 (after it)."""
    s = demo.start
    return {
        "a_start": (s + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"),
        "a_end": (s + timedelta(days=17)).strftime("%Y-%m-%dT%H:%M"),
        "b_start": (s + timedelta(days=22)).strftime("%Y-%m-%dT%H:%M"),
        "b_end": (s + timedelta(days=29)).strftime("%Y-%m-%dT%H:%M"),
    }


def test_two_windows_side_by_side(page: Page, demo: Demo, artifacts: Path) -> None:
    windows = _windows(demo)
    response = page.open(f"{W}?{urlencode(windows)}")
    assert response.status == 200
    api = demo.http.get(f"/v1/models/{MODEL}/compare", params=windows).json()
    rows = page.page.locator("table.window-columns tbody tr")
    shown = [rows.nth(i).get_attribute("data-column") for i in range(rows.count())]
    assert shown == [c["column"] for c in api["columns"]]  # the API's order: largest effect first
    assert "credit_score" in shown[:3]  # the planted drift (from day 20) is near the top
    top = api["columns"][0]
    assert rows.first.locator("td.value").inner_text() == num(top["value"], 3)
    summary = page.page.locator("table.windows-summary tbody tr")
    assert summary.count() == 2
    events_b = summary.nth(1).locator("td").nth(2).inner_text()
    assert events_b == f"{api['b']['events']:,}"
    # the form shows the windows of the URL, and the feature links lead to its drift
    assert page.page.locator("#w-a-start").input_value() == windows["a_start"]
    href = rows.first.locator("th a").get_attribute("href")
    assert href == f"/ui/models/{MODEL}/features/{top['column']}"
    page.shot(artifacts, "compare-windows")

    # a quick pick: the URL carries the state, the page shows the last day against the one before
    page.page.get_by_role("link", name="Last 24 h vs the 24 h before").click()
    page.page.wait_for_load_state("networkidle")
    q = parse_qs(urlsplit(page.page.url).query)
    assert set(q) == {"a_start", "a_end", "b_start", "b_end"}
    assert q["a_end"] == q["b_start"]
    assert page.page.locator("table.windows-summary tbody tr").count() == 2
    # a segment narrows both windows
    page.page.locator("#w-segment").fill("region=north")
    page.page.get_by_role("button", name="Compare").click()
    page.page.wait_for_load_state("networkidle")
    assert parse_qs(urlsplit(page.page.url).query)["segment"] == ["region=north"]
    assert "segment region=north" in page.page.locator("table.windows-summary caption").inner_text()
    assert page.errors == []


def test_window_b_becomes_the_reference_after_confirmation(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    name = "w16-windows"
    rng = np.random.default_rng(5)
    buf = io.BytesIO()
    pq.write_table(
        pa.table({"x": rng.normal(size=300), "prediction": rng.integers(0, 2, 300)}), buf
    )
    r = demo.http.post(
        f"/v1/models/{name}/reference",
        params={"create": "true", "task": "binary"},
        content=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    t0 = demo.today - timedelta(days=2)
    events = [
        {
            "event_id": f"w{i}",
            "timestamp": (t0 + timedelta(minutes=2 * i)).isoformat(),
            "features": {"x": float(rng.normal(2.0))},
            "prediction": int(i % 2),
        }
        for i in range(300)
    ]
    assert demo.http.post(f"/v1/models/{name}/events", json=events).status_code == 200
    before = demo.http.get(f"/v1/models/{name}/references").json()
    windows = {
        "a_start": (t0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "a_end": t0.strftime("%Y-%m-%dT%H:%M"),
        "b_start": t0.strftime("%Y-%m-%dT%H:%M"),
        "b_end": (t0 + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
    }
    page.open(f"/ui/models/{name}/compare/windows?{urlencode(windows)}")
    button = page.page.get_by_role("button", name="Use window B as reference")
    button.click()  # without the confirmation: nothing changes
    page.page.wait_for_load_state()
    assert "Nothing was changed" in page.page.get_by_role("alert").inner_text()
    assert demo.http.get(f"/v1/models/{name}/references").json() == before

    page.page.get_by_label("I want window B to become the reference").check()
    page.page.get_by_role("button", name="Use window B as reference").click()
    page.page.wait_for_url("**/compare/windows?*made=*")
    notice = page.page.get_by_role("status").inner_text()
    assert notice.startswith(f"Window B is now the reference of {name}")
    after = demo.http.get(f"/v1/models/{name}/references").json()
    assert len(after) == len(before) + 1 and after[-1]["rows"] == 300
    assert f"reference {after[-1]['id']}, 300 rows" in notice
    audit = demo.http.get(
        "/v1/security/audit", params={"action": "reference.from_window", "target": name}
    ).json()
    assert audit and audit[0]["after"]["reference"] == after[-1]["id"]
    page.shot(artifacts, "compare-windows-reference")
    # the refused post answered 422 (Chromium logs it); nothing else went wrong
    assert [e for e in page.errors if "status of 422" not in e] == []
    assert len(page.errors) == 1


def test_header_search_finds_models_features_and_incidents(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    page.open("/ui/")
    box = page.page.get_by_role("searchbox", name="Search models, features and incidents")
    box.fill("CREDIT")
    box.press("Enter")
    page.page.wait_for_url("**/ui/search?q=CREDIT")
    features = page.page.locator("ul.hits.features li a")
    assert "credit_score" in features.all_inner_texts()
    page.shot(artifacts, "search")
    link = page.page.get_by_role("link", name="credit_score", exact=True)
    link.click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.url.endswith(f"/ui/models/{MODEL}/features/credit_score")

    items = demo.http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    assert items, "the demo's drift opened an incident"
    page.open(f"/ui/search?q=%23{items[0]['id']}")
    hits = page.page.locator("ul.hits.incidents li a")
    assert hits.first.inner_text() == f"#{items[0]['id']} {items[0]['title']}"
    assert (
        page.page.get_by_role(
            "searchbox", name="Search models, features and incidents"
        ).input_value()
        == f"#{items[0]['id']}"
    )
    page.open("/ui/search?q=no-such-thing-here")
    assert "0 matches" in page.page.get_by_role("status").inner_text()
    assert page.errors == []
