"""A new user's first hour, through the UI in Chromium, on a model that is not the demo's.

A fraud model is registered from its reference data through the API (monitors set themselves
up), six hours of scored transactions are sent, the last two with transaction amounts about
twice as large; then, as a user would: a result appears in the UI within a minute (the
scheduler runs every few seconds here), the drift shows on the heat map, the feature page of
``amount`` shows it, a sample of that window's events is downloaded and read, a table is
downloaded as CSV, and the model is deleted from the UI. Each step leaves a screenshot in
``MLWARDEN_JOURNEY_ARTIFACTS`` (default ``build/journey-screenshots``, git-ignored).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serverproc import ServerProcess

MODEL = "fraud-check"
HOURS = 6
PER_HOUR = 600
DRIFTED_HOURS = 2
MERCHANTS = ("grocery", "travel", "online", "fuel")
SHOTS = Path(
    os.environ.get("MLWARDEN_JOURNEY_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "build" / "journey-screenshots"
)


def _rows(rng: np.random.Generator, n: int, *, scale: float = 1.0) -> dict[str, Any]:
    amount = np.round(rng.lognormal(3.5, 0.6, n) * scale, 2)
    merchant = rng.choice(MERCHANTS, n, p=[0.4, 0.1, 0.35, 0.15])
    hour = rng.integers(0, 24, n)
    logit = -3.0 + 0.02 * (amount - 40) + 1.2 * (merchant == "travel")
    score = 1 / (1 + np.exp(-(logit + rng.normal(scale=0.5, size=n))))
    return {
        "amount": amount,
        "merchant": merchant,
        "hour_of_day": hour,
        "channel": rng.choice(["web", "app"], n),
        "score": score,
        "prediction": (score > 0.5).astype(np.int64),
        "is_fraud": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64),
    }


def _events(rng: np.random.Generator, now: datetime) -> tuple[list[dict[str, Any]], datetime]:
    """HOURS closed hours of events, the last DRIFTED_HOURS with amounts x1.9; and the start
    of the first drifted hour."""
    top = now.replace(minute=0, second=0, microsecond=0)
    out: list[dict[str, Any]] = []
    for h in range(HOURS):
        start = top - timedelta(hours=HOURS - h)
        cols = _rows(rng, PER_HOUR, scale=1.9 if h >= HOURS - DRIFTED_HOURS else 1.0)
        for i in range(PER_HOUR):
            out.append(
                {
                    "event_id": f"tx-{h}-{i}",
                    "timestamp": (start + timedelta(seconds=i * 3600 / PER_HOUR)).isoformat(),
                    "features": {
                        "amount": float(cols["amount"][i]),
                        "merchant": str(cols["merchant"][i]),
                        "hour_of_day": int(cols["hour_of_day"][i]),
                    },
                    "segments": {"channel": str(cols["channel"][i])},
                    "prediction": int(cols["prediction"][i]),
                    "score": float(cols["score"][i]),
                }
            )
    return out, top - timedelta(hours=DRIFTED_HOURS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("journey") / "data", "--evaluate-every", "3")
    try:
        yield srv.start()
    finally:
        srv.stop()


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_a_new_model_from_register_to_delete_through_the_ui(
    server: ServerProcess, browser: Any
) -> None:
    shots = SHOTS
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    rng = np.random.default_rng(16)
    http = httpx.Client(base_url=server.url, timeout=120)
    # register from reference data: spec inferred, monitors set up by themselves
    ref = io.BytesIO()
    pq.write_table(pa.table(_rows(rng, 3000)), ref)
    r = http.post(
        f"/v1/models/{MODEL}/reference",
        params={"create": "true", "target": "is_fraud", "segments": ["channel"]},
        content=ref.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["monitors"] > 0, r.json()
    events, drift_start = _events(rng, datetime.now(UTC))
    r = http.post(f"/v1/models/{MODEL}/events", json=events)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # a result in the UI within a minute, without pressing anything
        drift_tab = f"{server.url}/ui/models/{MODEL}?tab=drift"

        def heat_rows() -> list[str]:
            page.goto(drift_tab)
            return list(
                page.locator("table.heat tbody tr").evaluate_all(
                    "rows => rows.map(r => r.dataset.row)"
                )
            )

        rows = _wait(
            "drift results on the heat map", lambda: "amount" in heat_rows() and heat_rows()
        )
        page.screenshot(path=str(shots / "1-drift-heat-map.png"), full_page=True)
        # the planted drift: amount alerts in the drifted hours, not before
        cells = page.locator('tr[data-row="amount"] td.cell').evaluate_all(
            "cs => cs.map(c => [c.dataset.window, c.dataset.status])"
        )
        key = drift_start.strftime("%Y-%m-%d %H:%M")
        after = [s for w, s in cells if w >= key]
        before = [s for w, s in cells if w < key]
        assert after and after.count("alert") == len(after), cells
        assert "alert" not in before, cells
        assert "merchant" in rows and "hour_of_day" in rows

        # the feature page of the drifted feature, from its heat-map row
        page.locator('tr[data-row="amount"] a.feature-link').click()
        page.wait_for_load_state("networkidle")
        assert "/features/amount" in page.url
        assert page.locator("#feature-title").inner_text().startswith("amount")
        assert page.locator("[data-chart=chart-feature-dist] canvas").count() == 1
        statuses = page.locator("table.drift-results tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.status)"
        )
        assert statuses[:DRIFTED_HOURS] == ["alert"] * DRIFTED_HOURS, statuses
        page.screenshot(path=str(shots / "2-feature-page.png"), full_page=True)

        # the sample of the view's events, downloaded as CSV and read
        with page.expect_download() as info:
            page.locator("#sample-links a", has_text="CSV").first.click()
        sample = Path(info.value.path()).read_text()
        got = list(csv.DictReader(io.StringIO(sample)))
        assert info.value.suggested_filename.startswith(f"{MODEL}-sample-")
        assert len(got) == 1000  # the default limit, of 3,600 events in view
        assert len({row["event_id"] for row in got}) == 1000
        assert {"amount", "merchant", "hour_of_day", "prediction", "score", "actual"} <= set(got[0])
        drifted = [
            float(row["amount"]) for row in got if row["event_id"].startswith(f"tx-{HOURS - 1}-")
        ]
        calm = [float(row["amount"]) for row in got if row["event_id"].startswith("tx-0-")]
        assert drifted and calm and np.median(drifted) > 1.5 * np.median(calm)

        # a table's CSV: the drift results per window
        with page.expect_download() as info:
            page.locator(".scroll:has(table.drift-results) + p.csv-link a").first.click()
        table = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
        assert table[0][:3] == ["window", "status", "statistic"], table[0]
        assert len(table) - 1 == len(statuses)
        page.screenshot(path=str(shots / "3-downloads.png"), full_page=True)

        # delete the model through the UI, its name typed to confirm
        page.goto(f"{server.url}/ui/models/{MODEL}/monitors")
        page.get_by_label(f"Type the model's name, {MODEL}, to confirm").fill(MODEL)
        page.get_by_role("button", name="Delete model and all its data").click()
        page.wait_for_url(f"{server.url}/ui/?deleted={MODEL}")
        page.screenshot(path=str(shots / "4-deleted.png"), full_page=True)
        assert http.get(f"/v1/models/{MODEL}").status_code == 404
        assert errors == []
    finally:
        context.close()
        http.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-drift-heat-map.png",
        "2-feature-page.png",
        "3-downloads.png",
        "4-deleted.png",
    ]
