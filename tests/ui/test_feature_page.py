"""The feature page and the sample downloads, on the demo's server (credit_score drifts from
day 20): the distribution per window agrees with the column API, the drift and incidents of the
feature are there, every place naming a feature links to its page, and the download links give
the window's events."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from ui.conftest import MODEL, Demo, Page

F = f"/ui/models/{MODEL}/features"


def _payload(html: str, chart_id: str) -> dict[str, object]:
    m = re.search(
        rf'<script type="application/json" id="chart-{chart_id}">(.*?)</script>', html, re.S
    )
    assert m, f"no chart {chart_id}"
    data: dict[str, object] = json.loads(m.group(1))
    return data


def _series(payload: dict[str, object], label: str) -> list[float | None]:
    series = payload["series"]
    assert isinstance(series, list)
    return next(s["values"] for s in series if s["label"] == label)


def test_a_numeric_features_quantiles_agree_with_the_column_api(demo: Demo) -> None:
    r = demo.http.get(f"{F}/credit_score")
    assert r.status_code == 200, r.text[:2000]
    chart = _payload(r.text, "feature-dist")
    x = chart["x"]
    assert isinstance(x, list) and len(x) == 30  # one per daily window of the default 30 days
    median = _series(chart, "median")
    # the last window's median is the column API's exact median of that day
    last = datetime.fromtimestamp(x[-1], UTC)
    col = demo.http.get(
        f"/v1/models/{MODEL}/columns/credit_score",
        params={"start": last.isoformat(), "end": (last + timedelta(days=1)).isoformat()},
    ).json()
    assert median[-1] == pytest.approx(col["p50"], rel=1e-9)
    # the drift lowers the median below the reference's, and the reference is drawn
    ref = _series(chart, "reference median")
    assert median[-1] is not None and ref[0] is not None and median[-1] < ref[0]
    assert len(chart["bands"]) == 2  # type: ignore[arg-type]
    # drift results with p-values, alerting after the onset; importance; the incident
    rows = re.findall(r'<tr data-status="(\w+)">', r.text)
    assert len(rows) == 30 and rows[:5].count("alert") >= 4  # newest first
    assert "p-value" in r.text
    assert re.search(r'id="feature-importance">0\.\d+ \(rank [12] of 13 features\)', r.text)
    assert re.search(r'id="feature-incidents"><li><a href="/ui/incidents/\d+">', r.text)


def test_a_categorical_features_shares_sum_to_one_per_window(demo: Demo) -> None:
    r = demo.http.get(
        f"{F}/region", params={"start": (demo.today - timedelta(days=7)).date().isoformat()}
    )
    assert r.status_code == 200, r.text[:2000]
    chart = _payload(r.text, "feature-dist")
    series = chart["series"]
    assert isinstance(series, list) and {s["label"] for s in series} >= {"north"}
    for i in range(len(chart["x"])):  # type: ignore[arg-type]
        assert sum(s["values"][i] for s in series) == pytest.approx(1.0)
    assert 'id="category-shares"' in r.text and "reference" in r.text


def test_an_unknown_feature_is_a_404_page_naming_the_features(demo: Demo) -> None:
    r = demo.http.get(f"{F}/credit_scor")
    assert r.status_code == 404
    text = html.unescape(r.text)
    assert "has no feature 'credit_scor'" in text and "credit_score" in text
    assert r.headers["content-type"].startswith("text/html")


def test_every_place_naming_a_feature_links_to_its_page(demo: Demo) -> None:
    link = f'href="{F}/credit_score'
    drift = demo.http.get(f"/ui/models/{MODEL}", params={"tab": "drift"}).text
    assert link in drift  # the heat map's row
    window = (demo.today - timedelta(days=2)).date().isoformat()
    drill = demo.http.get(
        f"/ui/models/{MODEL}", params={"tab": "drift", "feature": "credit_score", "window": window}
    ).text
    assert re.search(r'id="drill-links"><a href="/ui/models/[^"]+/features/credit_score', drill)
    quality = demo.http.get(f"/ui/models/{MODEL}", params={"tab": "quality"}).text
    assert f'href="{F}/' in quality
    incidents = demo.http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    drifted = next(
        i for i in incidents if any(m.get("column") == "credit_score" for m in i["members"])
    )
    page = demo.http.get(f"/ui/incidents/{drifted['id']}").text
    assert link in page and 'id="sample-links"' in page


def _sample_links(html: str, section: str) -> list[str]:
    m = re.search(rf'id="{section}">(.*?)</p>', html, re.S)
    assert m, section
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', m.group(1))]


def test_the_drill_downs_sample_link_downloads_that_windows_events(demo: Demo) -> None:
    day = demo.today - timedelta(days=2)
    drill = demo.http.get(
        f"/ui/models/{MODEL}",
        params={
            "tab": "drift",
            "feature": "credit_score",
            "window": day.date().isoformat(),
            "segment": "region=north",
        },
    ).text
    csv_link = next(h for h in _sample_links(drill, "drill-links") if "format=csv" in h)
    r = demo.http.get(csv_link)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert 0 < len(rows) <= 1000 and {row["region"] for row in rows} == {"north"}
    times = {row["ts"][:10] for row in rows}
    assert times == {day.date().isoformat()}
    assert int(r.headers["x-mlwarden-window-events"]) >= len(rows)


def test_a_bad_sample_request_is_an_error_page(demo: Demo) -> None:
    r = demo.http.get(
        f"/ui/models/{MODEL}/events/sample",
        params={"start": "2026-01-02", "end": "2026-01-01", "format": "csv"},
    )
    assert r.status_code == 422 and "must be after" in r.text
    r = demo.http.get(f"/ui/models/{MODEL}/events/sample", params={"start": "x", "end": "y"})
    assert r.status_code == 422 and "'start' parameter" in html.unescape(r.text)


def test_the_feature_page_renders_in_the_browser(page: Page, demo: Demo, artifacts: Path) -> None:
    page.open(f"/ui/models/{MODEL}?tab=drift")
    page.page.locator('tr[data-row="credit_score"] a.feature-link').click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.url.startswith(demo.url + f"{F}/{quote('credit_score')}")
    assert page.page.locator("#feature-title").inner_text().startswith("credit_score")
    assert page.page.locator("[data-chart=chart-feature-dist] canvas").count() == 1
    page.shot(artifacts, "feature-credit_score")
    assert page.errors == []


def test_a_range_too_long_or_an_unknown_segment_column_is_a_422_page(demo: Demo) -> None:
    r = demo.http.get(f"{F}/credit_score", params={"start": "1990-01-01"})
    assert r.status_code == 422 and "windows of 1d" in r.text and "narrow the range" in r.text
    r = demo.http.get(f"{F}/credit_score", params={"segment": "nope=1"})
    assert r.status_code == 422 and "segment column" in r.text
