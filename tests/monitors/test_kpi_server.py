"""A business KPI through the real server: the spec applied over HTTP, events and labels
ingested, windows evaluated; a change planted in one segment raises a KPI incident that names
that segment, and the objective linked to the KPI is violated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest

from mlwarden.sdk.http import ipc_bytes
from serverproc import http_client

from .test_kpi import LOSS, loans

ARROW = "application/vnd.apache.arrow.stream"
MODEL = "loans"
DAYS = 6
PLANTED_FROM = 4  # days 4 and 5: in region north, defaults triple and amounts grow 60%
SPEC = {
    "name": MODEL,
    "task": "binary",
    "classes": ["default", "repaid"],
    "positive_class": "default",
    "features": [
        {"name": "amount", "kind": "numeric"},
        {"name": "margin", "kind": "numeric"},
        {"name": "region", "kind": "categorical"},
        {"name": "vip", "kind": "boolean"},
    ],
    "prediction": "prediction",
    "score": "score",
    "target": "target",
    "segments": ["region"],
}
MONITORS = f"""
model: {MODEL}
cadence: 1d
false_alarm_budget: 1 per 30 days
segments: [region]
objectives:
  - name: losses-within-plan
    description: Expected credit losses stay within plan.
    monitors: ["kpi:*"]
    severity: high
monitors:
  - kind: kpi
    name: expected_loss
    expression: '{LOSS}'
    direction: up
  - kind: kpi
    name: margin_per_1k
    expression: 1000 * sum(margin) / count()
  - kind: feature_drift
    column: amount
"""


def _post(http: httpx.Client, path: str, table: pa.Table) -> None:
    r = http.post(path, content=ipc_bytes(table), headers={"content-type": ARROW})
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root: Path = tmp_path_factory.mktemp("kpi")
    with http_client(root / "data", "--evaluate-every", "0") as client:
        yield client


@pytest.fixture(scope="module")
def start(http: httpx.Client) -> datetime:
    """The model, its reference, six days of events (the last two with the planted change in
    region north) and their labels, sent over HTTP; the KPI spec applied and evaluated."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS)
    assert http.post("/v1/models", json=SPEC).status_code in (200, 201)
    ref = pa.Table.from_pandas(loans(6000, seed=21), preserve_index=False)
    _post(http, f"/v1/models/{MODEL}/reference?version=v1&name=training", ref)
    for day in range(DAYS):
        planted = day >= PLANTED_FROM
        df = loans(
            3000,
            seed=100 + day,
            north_shift=0.2 if planted else 0.0,
            north_amounts=1.6 if planted else 1.0,
        )
        df["event_id"] = [f"d{day}-{i}" for i in range(len(df))]
        seconds = np.linspace(60, 86_000, len(df))
        df["timestamp"] = [start + timedelta(days=day, seconds=float(s)) for s in seconds]
        events = pa.Table.from_pandas(df.drop(columns=["target"]), preserve_index=False)
        _post(http, f"/v1/models/{MODEL}/events", events)
        labels = pa.table({"event_id": df.event_id, "actual": df.target})
        _post(http, f"/v1/models/{MODEL}/actuals", labels)
    r = http.put(
        f"/v1/models/{MODEL}/monitors",
        content=MONITORS,
        headers={"content-type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    span = {"start": start.isoformat(), "end": today.isoformat()}
    r = http.post(f"/v1/models/{MODEL}/evaluate", json=span)
    assert r.status_code == 200 and r.json()["results"] > 0, r.text
    return start


def test_the_planted_segment_alerts_and_the_others_do_not(
    http: httpx.Client, start: datetime
) -> None:
    rows = http.get(
        f"/v1/models/{MODEL}/results",
        params={"monitor": "kpi:expected_loss", "whole_model": "false", "limit": 1000},
    ).json()
    by = {(r["segment"], str(r["window_start"])[:10]): r for r in rows}
    planted = {(start + timedelta(days=d)).isoformat()[:10] for d in range(PLANTED_FROM, DAYS)}
    north = [r for (seg, day), r in by.items() if seg == "region=north" and day in planted]
    assert len(north) == 2 and all(r["status"] == "alert" for r in north), north
    assert all(r["details"]["change"] > 0.5 and r["direction"] == "above" for r in north)
    quiet = [
        r
        for (seg, day), r in by.items()
        if day not in planted or seg in ("region=south", "region=east")
    ]
    assert len(quiet) >= 3 * DAYS - 2 and not [r for r in quiet if r["status"] == "alert"], quiet
    # every window was judged on its labels: nothing partial
    assert all(r["details"]["labelled_share"] == 1.0 for r in rows)
    # the KPI that does not read labels is judged too, and stayed quiet
    other = http.get(
        f"/v1/models/{MODEL}/results", params={"monitor": "kpi:margin_per_1k", "limit": 100}
    ).json()
    assert len(other) == DAYS
    calm = [r for r in other if str(r["window_start"])[:10] not in planted]
    assert {r["status"] for r in calm} <= {"ok", "warn"}


def test_the_model_page_charts_the_kpis(http: httpx.Client, start: datetime) -> None:
    page = http.get(f"/ui/models/{MODEL}", params={"tab": "performance"})
    assert page.status_code == 200, page.text[:500]
    assert "KPI: expected loss" in page.text and "KPI: margin per 1k" in page.text
    north = http.get(
        f"/ui/models/{MODEL}", params={"tab": "performance", "segment": "region=north"}
    )
    assert north.status_code == 200 and "kpi-kpi-expected_loss" in north.text


def test_the_incident_names_the_kpi_and_the_segment(http: httpx.Client, start: datetime) -> None:
    items = http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    business = [i for i in items if i["kind"] == "business"]
    assert len(business) == 1, [(i["kind"], i["title"]) for i in items]
    inc = http.get(f"/v1/incidents/{business[0]['id']}").json()
    title = inc["title"]
    assert title.startswith("expected loss up "), title
    assert title.endswith("in region = north, driven by amount drift"), title
    assert inc["causes"]["features"][0]["name"] == "amount"
    assert any(r["rule"] == "kpi-moved" for r in inc["recommendations"]), inc["recommendations"]
    assert "region = north" in next(
        r["cause"] for r in inc["recommendations"] if r["rule"] == "kpi-moved"
    )
    assert {m["segment"] for m in inc["members"]} >= {"region=north"}
    # the objective linked to the KPIs is the one the incident threatens
    threatened = {o["name"]: o for o in inc["objectives"]}
    assert "losses-within-plan" in threatened, inc["objectives"]
    # (larger amounts in the north raise the margin per loan too: both KPIs fired)
    assert "kpi:expected_loss" in threatened["losses-within-plan"]["monitors"]
    assert threatened["losses-within-plan"]["status"] in ("violated", "at_risk")
    assert inc["severity"] == "high"
    names = {o["name"] for o in http.get(f"/v1/models/{MODEL}/objectives").json()}
    assert "losses-within-plan" in names


def test_a_bad_expression_is_refused_over_http_with_its_path(http: httpx.Client) -> None:
    bad = MONITORS.replace("1000 * sum(margin) / count()", "sum(margin.real)")
    r = http.put(
        f"/v1/models/{MODEL}/monitors", content=bad, headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 400, r.text
    msg = r.json()["error"]["message"]
    assert "'monitors[1].expression'" in msg and "no attribute access" in msg, msg
    assert "'margin.real'" in msg
    # a KPI written as a Python function runs in batch reports, never on the server
    fn = MONITORS.replace("  - kind: feature_drift\n    column: amount\n", "")
    fn += "  - kind: kpi_function\n    name: loss_fn\n    function: os:getcwd\n"
    r = http.put(
        f"/v1/models/{MODEL}/monitors", content=fn, headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 400, r.text
    assert "'monitors[2].kind' field must not be 'kpi_function'" in r.json()["error"]["message"]
