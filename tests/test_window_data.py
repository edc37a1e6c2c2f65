"""From an alert to the data, on one real server: a sample of a window's events as a download
(``GET /v1/models/{m}/events/sample``: the window's and segment's events only, with their
actuals, in CSV / Parquet / JSON, reproducible by seed), one column per window
(``GET /v1/models/{m}/columns/{c}/windows``, the feature page's numbers), and clear 422s for
what cannot be answered."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest

from serverproc import ServerProcess

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
PER_DAY = 120
SAMPLE = "/v1/models/loans/events/sample"


def _event(day: int, i: int) -> dict[str, object]:
    return {
        "event_id": f"d{day}-{i}",
        "timestamp": (DAY0 + timedelta(days=day, minutes=11 * i)).isoformat(),
        "features": {"income": float(1000 * day + i), "region": ("eu", "us", "apac")[i % 3]},
        "prediction": i % 2,
        "score": (i % 10) / 10,
    }


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    srv = ServerProcess(tmp_path_factory.mktemp("sample") / "data", "--evaluate-every", "0")
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as client:
            spec = {
                "name": "loans",
                "task": "binary",
                "classes": [0, 1],
                "features": [
                    {"name": "income", "kind": "numeric"},
                    {"name": "region", "kind": "categorical"},
                ],
            }
            assert client.post("/v1/models", json=spec).status_code == 201
            events = [_event(d, i) for d in range(3) for i in range(PER_DAY)]
            r = client.post("/v1/models/loans/events", json=events)
            assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
            labels = [{"event_id": f"d1-{i}", "actual": (i // 2) % 2} for i in range(0, 40)]
            assert client.post("/v1/models/loans/actuals", json=labels).status_code == 200
            yield client
    finally:
        srv.stop()


def _day(d: int) -> dict[str, str]:
    return {
        "start": (DAY0 + timedelta(days=d)).isoformat(),
        "end": (DAY0 + timedelta(days=d + 1)).isoformat(),
    }


def _csv(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


def test_a_csv_sample_holds_the_windows_events_with_their_actuals(http: httpx.Client) -> None:
    r = http.get(SAMPLE, params={**_day(1), "limit": 50})
    rows = _csv(r)
    assert r.headers["content-type"].startswith("text/csv")
    disposition = r.headers["content-disposition"]
    assert disposition == 'attachment; filename="loans-sample-20260302-20260303.csv"'
    assert r.headers["x-mlwarden-window-events"] == str(PER_DAY)
    assert len(rows) == 50 and len({row["event_id"] for row in rows}) == 50
    assert all(row["event_id"].startswith("d1-") for row in rows)
    assert {"income", "region", "prediction", "score", "actual", "actual_ts"} <= set(rows[0])
    for row in rows:  # labelled exactly where a label was sent, with its value
        i = int(row["event_id"].split("-")[1])
        assert row["actual"] == (str((i // 2) % 2) if i < 40 else ""), row
    assert [row["ts"] for row in rows] == sorted(row["ts"] for row in rows)


def test_a_limit_above_the_window_returns_every_event_of_it(http: httpx.Client) -> None:
    rows = _csv(http.get(SAMPLE, params={**_day(2), "limit": 1000}))
    assert sorted(row["event_id"] for row in rows) == sorted(f"d2-{i}" for i in range(PER_DAY))


def test_the_same_seed_draws_the_same_sample_and_another_seed_another(
    http: httpx.Client,
) -> None:
    ids = [
        [
            row["event_id"]
            for row in _csv(http.get(SAMPLE, params={**_day(0), "limit": 30, "seed": s}))
        ]
        for s in (7, 7, 8)
    ]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    r = http.get(SAMPLE, params={**_day(0), "limit": 5})
    assert r.headers["x-mlwarden-sample-seed"].isdigit()


def test_a_segments_sample_holds_only_its_events(http: httpx.Client) -> None:
    r = http.get(SAMPLE, params={**_day(1), "segment": "region:eu", "limit": 1000})
    rows = _csv(r)
    assert len(rows) == PER_DAY // 3 == int(r.headers["x-mlwarden-window-events"])
    assert {row["region"] for row in rows} == {"eu"}
    assert "region-eu" in r.headers["content-disposition"]


def test_parquet_and_json_hold_the_same_sample_as_csv(http: httpx.Client) -> None:
    params = {**_day(1), "limit": 20, "seed": 3}
    ids = [row["event_id"] for row in _csv(http.get(SAMPLE, params=params))]
    r = http.get(SAMPLE, params={**params, "format": "parquet"})
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('.parquet"')
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("event_id").to_pylist() == ids
    rows = http.get(SAMPLE, params={**params, "format": "json"}).json()
    assert [row["event_id"] for row in rows] == ids
    assert rows[0]["ts"].startswith("2026-03-02T")


def test_an_empty_window_is_a_header_only_csv(http: httpx.Client) -> None:
    r = http.get(SAMPLE, params={"start": "2027-01-01", "end": "2027-01-02"})
    assert r.status_code == 200 and r.headers["x-mlwarden-window-events"] == "0"
    assert r.text.splitlines()[0].startswith('"event_id"') and len(r.text.splitlines()) == 1


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start": "yesterday", "end": "2026-03-02"}, "start"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "'end' parameter must be after"),
        ({"start": "2026-03-02", "end": "2026-03-02"}, "'end' parameter must be after"),
        ({"start": "2026-03-02"}, "end"),
        ({"start": "2026-03-01", "end": "2026-03-02", "segment": "nope:x"}, "'nope'"),
        ({"start": "2026-03-01", "end": "2026-03-02", "segment": "region"}, "segment"),
        ({"start": "2026-03-01", "end": "2026-03-02", "limit": 10**9}, "limit"),
        ({"start": "2026-03-01", "end": "2026-03-02", "limit": 0}, "limit"),
        ({"start": "2026-03-01", "end": "2026-03-02", "format": "xlsx"}, "format"),
    ],
)
def test_bad_requests_are_clear_422s(
    http: httpx.Client, params: dict[str, object], says: str
) -> None:
    r = http.get(SAMPLE, params=params)
    assert r.status_code == 422, r.text
    assert says in r.text, r.text


def test_an_unknown_model_is_a_404(http: httpx.Client) -> None:
    r = http.get("/v1/models/nope/events/sample", params=_day(0))
    assert r.status_code == 404


WINDOWS = "/v1/models/loans/columns/{}/windows"
THREE_DAYS = {"start": DAY0.isoformat(), "end": (DAY0 + timedelta(days=3)).isoformat()}


def test_a_numeric_column_per_window_agrees_with_the_column_summary(http: httpx.Client) -> None:
    r = http.get(WINDOWS.format("income"), params={**THREE_DAYS, "cadence": "1d"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [(w["window_start"][:10], w["n"], w["missing"]) for w in rows] == [
        ("2026-03-01", PER_DAY, 0),
        ("2026-03-02", PER_DAY, 0),
        ("2026-03-03", PER_DAY, 0),
    ]
    whole = http.get("/v1/models/loans/columns/income", params=_day(1)).json()
    assert rows[1]["quantiles"]["p50"] == pytest.approx(whole["p50"])
    assert "counts" not in rows[1]
    # without a cadence: the model has no monitors, so days; 6-hour windows when asked
    assert http.get(WINDOWS.format("income"), params=THREE_DAYS).json() == rows
    six = http.get(WINDOWS.format("income"), params={**_day(0), "cadence": "6h"}).json()
    assert sum(w["n"] for w in six) == PER_DAY and len(six) == 4


def test_a_categorical_column_per_window_counts_its_top_categories(http: httpx.Client) -> None:
    rows = http.get(WINDOWS.format("region"), params={**_day(2), "top": 2}).json()
    assert len(rows) == 1 and "quantiles" not in rows[0]
    counts = rows[0]["counts"]
    assert sum(counts.values()) == rows[0]["n"] == PER_DAY
    assert len(counts) == 3 and "(other)" in counts
    eu = http.get(WINDOWS.format("region"), params={**_day(2), "segment": "region:eu"}).json()
    assert eu[0]["counts"] == {"eu": PER_DAY // 3}


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, 422, "'end' parameter must be after"),
        ({**THREE_DAYS, "cadence": "2x"}, 422, "cadence"),
        ({"start": "1970-01-01", "end": "2026-01-01", "cadence": "1h"}, 422, "narrow the range"),
        ({**THREE_DAYS, "segment": "nope:x"}, 422, "'nope'"),
        ({**THREE_DAYS, "top": 0}, 422, "top"),
    ],
)
def test_bad_window_requests_are_clear_errors(
    http: httpx.Client, params: dict[str, object], status: int, says: str
) -> None:
    r = http.get(WINDOWS.format("income"), params=params)
    assert r.status_code == status, r.text
    assert says in r.text, r.text


def test_an_unknown_column_per_window_is_a_404(http: httpx.Client) -> None:
    r = http.get(WINDOWS.format("nope"), params=THREE_DAYS)
    assert r.status_code == 404, r.text
