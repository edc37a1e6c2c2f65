"""Business KPIs of champion and challenger (``analysis/champion_kpis.py``) against pandas over
the raw rows of the same DuckDB file.

The challenger in shadow approves with a planted higher margin; the KPIs' values of each
version must equal pandas' on the rows, the paired interval must cover the difference pandas
computes and say it is significant, and (the versions seeing the same requests) be narrower
than the unpaired one. A quantile KPI is listed with its reason and no numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlwarden.analysis.champion import compare_versions
from mlwarden.analysis.champion_kpis import compare_kpis
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.schema.batch import validate_actuals_table
from mlwarden.schema.kpi import parse_kpi
from mlwarden.store import DuckDBStore

START = datetime(2026, 6, 1, tzinfo=UTC)
N = 4000
SPEC = ModelSpec(
    name="loans", task="binary", classes=["0", "1"], score="score",
    features=[Feature(name="amount", kind="numeric"), Feature(name="margin", kind="numeric")],
)  # fmt: skip
KPIS = {
    "profit": "sum(margin * (prediction == 1) * (actual == 0))"
    " - sum(amount * (prediction == 1) * (actual == 1))",
    "approval_per_1k": "1000 * rate(prediction == 1)",
    "mean_score": "mean(score)",
    "p90_score": "quantile(score, 0.9)",
}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBStore, Any, Any]]:
    rng = np.random.default_rng(5)
    y = (rng.random(N) < 0.2).astype(int)  # 1: default
    amount, margin = rng.gamma(2.0, 50.0, N), rng.gamma(2.0, 10.0, N)
    risk = 1.2 * y + rng.normal(size=N)
    sa = 1 / (1 + np.exp(risk - 0.3))  # the score: approve (prediction 1) above 0.5
    sb = 1 / (1 + np.exp(1.6 * y + 0.7 * rng.normal(size=N) - 0.6))  # sharper, approves more
    ids = [f"l{i}" for i in range(N)]
    ts = [START + timedelta(seconds=20 * i) for i in range(N)]
    store = DuckDBStore(Path(tmp_path_factory.mktemp("kpis")) / "db.duckdb")
    model = store.create_model("p", SPEC)
    rows = []
    for version, score, shadow in (("v1", sa, False), ("v2", sb, True)):
        pred = (score >= 0.5).astype(np.int64)
        table = pa.table({"event_id": ids, "timestamp": ts, "version": [version] * N,
                          "prediction": pred, "score": score, "amount": amount,
                          "margin": margin, "shadow": [shadow] * N})  # fmt: skip
        store.append_events(model, validate_table(SPEC, table).table).result()
        rows.append(pd.DataFrame({"version": version, "prediction": pred, "score": score,
                                  "amount": amount, "margin": margin, "actual": y}))  # fmt: skip
    labels = validate_actuals_table(SPEC, pa.table({"event_id": ids, "actual": y.astype(str)}))
    store.append_actuals(model, labels.table).result()
    try:
        yield store, store.get_model("p", "loans"), pd.concat(rows)
    finally:
        store.close()


def _pandas(df: pd.DataFrame) -> dict[str, float]:
    approve = df.prediction == 1
    return {
        "profit": float(
            (df.margin * (approve & (df.actual == 0))).sum()
            - (df.amount * (approve & (df.actual == 1))).sum()
        ),  # fmt: skip
        "approval_per_1k": 1000 * float(approve.mean()),
        "mean_score": float(df.score.mean()),
    }


def _parsed() -> list[tuple[str, str, Any]]:
    cols = {"amount", "margin"}
    return [(k, v, parse_kpi(v, columns=cols)) for k, v in KPIS.items()]


def test_kpis_of_both_versions_equal_pandas_with_a_paired_interval(
    filled: tuple[DuckDBStore, Any, pd.DataFrame],
) -> None:
    store, model, df = filled
    c = compare_versions(store, model, champion="v1", challenger="v2", kpis=_parsed())
    assert c.mode == "paired"
    got = {k.kpi: k for k in c.kpis}
    want_a = _pandas(df[df.version == "v1"])
    want_b = _pandas(df[df.version == "v2"])
    for name in want_a:
        k = got[name]
        assert k.champion == pytest.approx(want_a[name], rel=1e-9)
        assert k.challenger == pytest.approx(want_b[name], rel=1e-9)
        assert k.test == "paired_bucket_bootstrap"
        assert k.low is not None and k.high is not None and k.low < k.diff < k.high  # type: ignore[operator]
    # the challenger approves more: the approval rate's rise is significant
    assert got["approval_per_1k"].significant and got["approval_per_1k"].diff > 0  # type: ignore[operator]
    assert got["p90_score"].champion is None and "quantile" in (got["p90_score"].note or "")
    assert "KPIs: " in c.verdict and "approval per 1k higher" in c.verdict


def test_the_paired_interval_is_narrower_than_the_unpaired_one(
    filled: tuple[DuckDBStore, Any, pd.DataFrame],
) -> None:
    store, model, _ = filled
    kw: dict[str, Any] = {"champion": "v1", "challenger": "v2"}
    ev, ac = store.events(model, shadow=True), store.actuals(model)
    paired = {k.kpi: k for k in compare_kpis(ev, ac, _parsed(), paired=True, **kw)}
    unpaired = {k.kpi: k for k in compare_kpis(ev, ac, _parsed(), paired=False, **kw)}
    for name in ("profit", "mean_score"):
        p, u = paired[name], unpaired[name]
        assert p.diff == pytest.approx(u.diff)
        assert p.high - p.low < 0.8 * (u.high - u.low), name  # type: ignore[operator]
