"""The compare page's champion / challenger section in Chromium.

A small model of its own on the UI tests' server: ten days of a champion and a challenger in
shadow (the same event ids), the challenger better except in region = west (planted). The page
must show the API's verdict, metrics and worse slice for the same range, and draw the chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from mlwarden.server.ui.format import num
from ui.conftest import Demo, Page

NAME = "champion-ui"
DAYS, PER_DAY = 10, 150


@pytest.fixture(scope="module")
def shadowed(demo: Demo) -> Iterator[dict[str, str]]:
    spec = {"name": NAME, "task": "binary", "classes": ["0", "1"], "score": "score",
            "segments": ["region"], "features": [{"name": "x", "kind": "numeric"}]}  # fmt: skip
    assert demo.http.post("/v1/models", json=spec).status_code == 201
    rng = np.random.default_rng(7)
    n = DAYS * PER_DAY
    start = demo.today - timedelta(days=DAYS)
    region = np.array(["north", "south", "west"])[rng.choice(3, n, p=[0.4, 0.35, 0.25])]
    y = (rng.random(n) < 0.4).astype(int)
    s, shared = 2 * y - 1, rng.normal(size=n)
    la = 0.9 * s + 0.8 * shared + 0.9 * rng.normal(size=n)
    lb = np.where(region == "west", 0.1 * s, 1.6 * s) + 0.8 * shared + 0.9 * rng.normal(size=n)
    events = []
    for v, logit in (("v1", la), ("v2", lb)):
        score = 1 / (1 + np.exp(-logit))
        events += [
            {"event_id": f"q{i}", "version": v,
             "timestamp": (start + timedelta(seconds=i * 86400 // PER_DAY)).isoformat(),
             "features": {"x": float(rng.normal())}, "segments": {"region": str(region[i])},
             "prediction": int(score[i] >= 0.5), "score": float(score[i])}
            for i in range(n)
        ]  # fmt: skip
    r = demo.http.post(f"/v1/models/{NAME}/events", json=events)
    assert r.status_code == 200 and r.json()["duplicates"] == 0, r.text
    actuals = [{"event_id": f"q{i}", "actual": int(y[i])} for i in range(n)]
    assert demo.http.post(f"/v1/models/{NAME}/actuals", json=actuals).status_code == 200
    yield {"start": start.isoformat(), "end": (demo.today + timedelta(days=1)).isoformat()}


def test_compare_page_shows_the_champion_verdict(
    page: Page, demo: Demo, shadowed: dict[str, str], artifacts: Path
) -> None:
    api = demo.http.get(
        f"/v1/models/{NAME}/champion", params={"champion": "v1", "challenger": "v2", **shadowed}
    )
    assert api.status_code == 200, api.text
    want = api.json()
    response = page.open(
        f"/ui/models/{NAME}/compare?{urlencode({'a': 'v1', 'b': 'v2', **shadowed})}"
    )
    assert response.status == 200
    section = page.page.locator("section.champion")
    assert section.get_attribute("data-mode") == want["mode"] == "paired"
    verdict = section.locator("p.verdict").inner_text()
    assert verdict == want["verdict"]
    assert "better on AUC" in verdict and "worse in segment region = west" in verdict
    assert section.locator("p.recommendation").inner_text() == want["recommendation"]
    rows = section.locator("table.champion-metrics tbody tr")
    assert [rows.nth(i).get_attribute("data-metric") for i in range(rows.count())] == [
        m["metric"] for m in want["metrics"]
    ]
    assert rows.first.locator("td").nth(2).inner_text() == num(want["metrics"][0]["diff"], 3)
    slices = section.locator("table.champion-slices tbody tr th")
    assert slices.first.inner_text() == want["worse_slices"][0]["condition"] == "region = west"
    # the daily accuracy of both versions is drawn (a uPlot canvas)
    assert section.locator("[data-chart='chart-champion-accuracy'] canvas").count() >= 1
    assert not page.errors, page.errors
    page.shot(artifacts, "compare-champion")


def test_compare_page_says_why_there_is_no_comparison(page: Page, demo: Demo,
                                                      shadowed: dict[str, str]) -> None:  # fmt: skip
    # a range before the model's events: the section says so and the page still renders
    q = urlencode({"a": "v1", "b": "v2", "start": demo.start.isoformat(),
                   "end": (demo.start + timedelta(days=3)).isoformat()})  # fmt: skip
    response = page.open(f"/ui/models/{NAME}/compare?{q}")
    assert response.status == 200
    assert "no events of version 'v1'" in page.page.locator("p.champion-error").inner_text()
