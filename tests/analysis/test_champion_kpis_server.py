"""The model's business KPIs in ``GET .../champion`` and on the compare page, through the real
server: a loan model with two KPI monitors, its challenger logged in shadow (same event ids)
approving fewer loans; the API must give each KPI of both versions (equal to pandas on the
rows) with the paired interval, and the page must show them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlwarden.sdk.http import ipc_bytes
from serverproc import http_client

ARROW = "application/vnd.apache.arrow.stream"
MODEL = "loans"
LOSS = (
    'sum(amount * (actual == "default") * (prediction == "repaid")) '
    '- sum(margin * (actual == "repaid") * (prediction == "repaid"))'
)
SPEC = {
    "name": MODEL, "task": "binary", "classes": ["default", "repaid"],
    "positive_class": "default", "score": "score", "target": "target",
    "features": [{"name": "amount", "kind": "numeric"}, {"name": "margin", "kind": "numeric"}],
}  # fmt: skip
MONITORS = f"""
model: {MODEL}
cadence: 1d
monitors:
  - kind: kpi
    name: expected_loss
    expression: '{LOSS}'
  - kind: kpi
    name: approval_rate
    expression: rate(prediction == "repaid")
"""
N = 3000


def _book(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 500.0, N)
    y = np.where(rng.random(N) < 0.15, "default", "repaid")
    risk = (y == "default") * 1.5 + rng.normal(size=N)
    return pd.DataFrame({"amount": amount, "margin": 0.08 * amount, "target": y,
                         "score_a": 1 / (1 + np.exp(-(risk - 1.5))),
                         "score_b": 1 / (1 + np.exp(-(risk - 1.0)))})  # fmt: skip


def _post(http: httpx.Client, path: str, table: pa.Table) -> None:
    r = http.post(path, content=ipc_bytes(table), headers={"content-type": ARROW})
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, pd.DataFrame]]:
    df = _book(3)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    with http_client(tmp_path_factory.mktemp("kpicmp") / "data", "--evaluate-every", "0") as http:
        assert http.post("/v1/models", json=SPEC).status_code in (200, 201)
        ref = _book(9)
        ref_t = pa.table({"amount": ref.amount, "margin": ref.margin, "score": ref.score_a,
                          "prediction": np.where(ref.score_a >= 0.5, "default", "repaid"),
                          "target": ref.target})  # fmt: skip
        _post(http, f"/v1/models/{MODEL}/reference?version=v1&name=training", ref_t)
        ts = [start + timedelta(seconds=20 * i) for i in range(N)]
        for version, col, shadow in (("v1", "score_a", False), ("v2", "score_b", True)):
            t = pa.table({"event_id": [f"l{i}" for i in range(N)], "timestamp": ts,
                          "version": [version] * N, "amount": df.amount, "margin": df.margin,
                          "score": df[col], "shadow": [shadow] * N,
                          "prediction": np.where(df[col] >= 0.5, "default", "repaid")})  # fmt: skip
            _post(http, f"/v1/models/{MODEL}/events", t)
        labels = pa.table({"event_id": [f"l{i}" for i in range(N)], "actual": df.target})
        _post(http, f"/v1/models/{MODEL}/actuals", labels)
        r = http.put(f"/v1/models/{MODEL}/monitors", content=MONITORS,
                     headers={"content-type": "application/yaml"})  # fmt: skip
        assert r.status_code == 200, r.text
        yield http, df


def test_the_api_and_the_page_compare_each_kpi(book: tuple[httpx.Client, pd.DataFrame]) -> None:
    http, df = book
    r = http.get(f"/v1/models/{MODEL}/champion", params={"champion": "v1", "challenger": "v2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "paired"
    kpis = {k["kpi"]: k for k in body["kpis"]}
    assert set(kpis) == {"expected_loss", "approval_rate"}
    for role, col in (("champion", "score_a"), ("challenger", "score_b")):
        repaid = df[col] < 0.5
        loss = (df.amount * (repaid & (df.target == "default"))).sum() - (
            df.margin * (repaid & (df.target == "repaid"))
        ).sum()
        assert kpis["expected_loss"][role] == pytest.approx(loss, rel=1e-9)
        assert kpis["approval_rate"][role] == pytest.approx(repaid.mean(), rel=1e-12)
    rate = kpis["approval_rate"]
    assert rate["test"] == "paired_bucket_bootstrap" and rate["significant"]
    assert rate["diff"] < 0 and rate["low"] < rate["diff"] < rate["high"] < 0
    assert "approval rate lower" in body["verdict"]
    page = http.get(f"/ui/models/{MODEL}/compare", params={"a": "v1", "b": "v2"})
    assert page.status_code == 200
    assert 'class="data champion-kpis"' in page.text and 'data-kpi="expected_loss"' in page.text
