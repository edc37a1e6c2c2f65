"""The blind spots page in Chromium: a model of its own on the UI tests' server with a planted
weak pair (region = west and amount in its top quartile); the page must rank the API's slices
the same way, draw the gaps, and link to the slice's events and to the performance tab."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from ui.conftest import Demo, Page

NAME = "blindspots-ui"
N = 2000


@pytest.fixture(scope="module")
def planted(demo: Demo) -> Iterator[dict[str, str]]:
    spec = {"name": NAME, "task": "binary", "classes": ["0", "1"],
            "features": [{"name": "region", "kind": "categorical"},
                         {"name": "amount", "kind": "numeric"}]}  # fmt: skip
    assert demo.http.post("/v1/models", json=spec).status_code == 201
    rng = np.random.default_rng(3)
    start = demo.today - timedelta(days=3)
    region = np.array(["north", "south", "east", "west"])[rng.choice(4, N)]
    amount = rng.lognormal(4.0, 0.6, N)
    weak = (region == "west") & (amount > np.quantile(amount, 0.75))
    y = rng.integers(0, 2, N)
    pred = np.where(rng.random(N) < np.where(weak, 0.4, 0.9), y, 1 - y)
    events = [
        {"event_id": f"b{i}", "timestamp": (start + timedelta(seconds=100 * i)).isoformat(),
         "features": {"region": str(region[i]), "amount": float(amount[i])},
         "prediction": int(pred[i])}
        for i in range(N)
    ]  # fmt: skip
    assert demo.http.post(f"/v1/models/{NAME}/events", json=events).status_code == 200
    actuals = [{"event_id": f"b{i}", "actual": int(y[i])} for i in range(N)]
    assert demo.http.post(f"/v1/models/{NAME}/actuals", json=actuals).status_code == 200
    yield {
        "start": start.date().isoformat(),
        "end": (demo.today + timedelta(days=1)).date().isoformat(),
    }


def test_the_page_ranks_the_apis_blind_spots(
    page: Page, demo: Demo, planted: dict[str, str], artifacts: Path
) -> None:
    api = demo.http.get(f"/v1/models/{NAME}/blind-spots", params={**planted, "metric": "accuracy"})
    assert api.status_code == 200, api.text
    want = api.json()["blind_spots"]
    assert want and {c["column"] for c in want[0]["conditions"]} == {"region", "amount"}, [
        (s["description"], s["impact"], s["explained_by"], s["value"], s["rest"]) for s in want
    ]
    response = page.open(
        f"/ui/models/{NAME}/blind-spots?{urlencode({**planted, 'metric': 'accuracy'})}"
    )
    assert response.status == 200
    rows = page.page.locator("table.blind-spots tbody tr")
    assert rows.count() == len(want)
    assert [rows.nth(i).locator("th").inner_text().split("\n")[0] for i in range(rows.count())] == [
        s["description"] for s in want
    ]
    assert page.page.locator("svg g.gap-bar").count() == min(len(want), 12)
    assert page.page.locator("#f-metric").input_value() == "accuracy"
    # the slice's events: the UI's sample download holds exactly the slice's rows
    href = rows.first.locator("a.events-link").get_attribute("href")
    got = page.page.request.get(demo.url + href + "&limit=5000")
    assert got.status == 200
    assert int(got.headers["x-mlwarden-window-events"]) == want[0]["rows"]
    assert len(got.text().strip().splitlines()) == want[0]["rows"] + 1  # a header line
    feature_links = rows.first.locator("a.feature-link")
    assert sorted(feature_links.all_inner_texts()) == ["amount", "region"]
    page.shot(artifacts, "blind-spots")
    # the performance tab links to the page with the same range
    page.open(f"/ui/models/{NAME}?{urlencode(planted)}")
    page.page.locator("#blind-spots-link").click()
    page.page.wait_for_load_state("networkidle")
    assert "/blind-spots" in page.page.url and planted["start"] in page.page.url
    assert page.page.locator("table.blind-spots tbody tr").count() == len(want)
    assert page.errors == []
