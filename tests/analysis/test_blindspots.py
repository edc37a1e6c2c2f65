"""Blind spots through the real server: a planted weak pair is found first, with the
p-values scipy gives on the same counts, and a stable model shows none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats as sps

import mlwarden
from serverproc import ServerProcess

START = datetime(2026, 9, 1, tzinfo=UTC)
N = 3000
SPEC = {
    "task": "binary", "classes": ["0", "1"], "segments": ["channel"],
    "features": [{"name": "region", "kind": "categorical"},
                 {"name": "amount", "kind": "numeric"},
                 {"name": "age", "kind": "numeric"}],
}  # fmt: skip
RANGE = {"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()}


def scenario(seed: int, *, planted: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = np.array(["north", "south", "east", "west"])[rng.choice(4, N)]
    amount = rng.lognormal(4.0, 0.6, N)
    weak = planted & (region == "west") & (amount > np.quantile(amount, 0.75))
    correct = rng.random(N) < np.where(weak, 0.45, 0.88)
    y = rng.integers(0, 2, N)
    return {
        "region": region, "amount": amount, "age": rng.uniform(18, 80, N),
        "channel": np.array(["web", "app"])[rng.integers(0, 2, N)], "y": y,
        "pred": np.where(correct, y, 1 - y), "latency": rng.gamma(4.0, 10.0, N) + 40 * weak,
    }  # fmt: skip


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("blindspots") / "data", "--evaluate-every", "0")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def http(srv: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=300) as c:
        yield c


def _load(
    http: httpx.Client, srv: ServerProcess, spool: Path, name: str, d: dict[str, np.ndarray]
) -> None:
    assert http.post("/v1/models", json={"name": name, **SPEC}).status_code == 201
    with mlwarden.init(model=name, version="v1", url=srv.url, spool_dir=spool) as m:
        for i in range(N):
            feats = {"region": str(d["region"][i]), "amount": float(d["amount"][i]),
                     "age": float(d["age"][i])}  # fmt: skip
            m.log(feats, int(d["pred"][i]), event_id=f"e{i}", segments={"channel":
                  str(d["channel"][i])}, timestamp=START + timedelta(seconds=40 * i),
                  latency_ms=float(d["latency"][i]))  # fmt: skip
            m.log_actual(f"e{i}", int(d["y"][i]))
        assert m.flush(120)


@pytest.fixture(scope="module")
def data(
    http: httpx.Client, srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, np.ndarray]]:
    out = {"weak": scenario(1, planted=True), "stable": scenario(2, planted=False)}
    for name, d in out.items():
        _load(http, srv, tmp_path_factory.mktemp(name), name, d)
    return out


def _spots(http: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    r = http.get(f"/v1/models/{name}/blind-spots", params={**RANGE, **params})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _mask(d: dict[str, np.ndarray], conditions: list[dict[str, Any]]) -> np.ndarray:
    mask = np.ones(N, dtype=bool)
    for c in conditions:
        x = d[c["column"]]
        if c["op"] == "==":
            mask &= x == c["value"]
        else:
            mask &= (x >= (c["low"] if c["low"] is not None else -np.inf)) & (
                x < (c["high"] if c["high"] is not None else np.inf)
            )
    return mask


def test_the_planted_pair_is_found_first_with_scipys_p_value(
    http: httpx.Client, data: dict[str, dict[str, np.ndarray]]
) -> None:
    r = _spots(http, "weak", metric="accuracy")
    assert r["rows"] == N and r["correction"] == "holm" and r["test"] == "two_proportion_z"
    assert r["pairs_tested"] <= r["max_pairs"] and r["slices_tested"] > 10
    top = r["blind_spots"][0]
    conds = {c["column"]: c for c in top["conditions"]}
    assert set(conds) == {"region", "amount"}, top["description"]
    assert conds["region"]["value"] == "west" and conds["amount"]["high"] is None
    d = data["weak"]
    mask = _mask(d, top["conditions"])
    hit = d["pred"] == d["y"]
    n, k, nr, kr = int(mask.sum()), int(hit[mask].sum()), int((~mask).sum()), int(hit[~mask].sum())
    assert top["rows"] == n
    assert top["value"] == pytest.approx(k / n) and top["rest"] == pytest.approx(kr / nr)
    table = [[k, n - k], [kr, nr - kr]]
    p = sps.chi2_contingency(table, correction=False).pvalue
    assert top["p_value"] == pytest.approx(p, rel=1e-6)
    assert top["adjusted_p"] >= top["p_value"] and top["adjusted_p"] <= r["alpha"]
    assert top["low"] < top["gap"] < top["high"] < 0
    # the pair's parent region = west holds as many extra errors, but only through the pair
    west = [s for s in r["blind_spots"] if s["description"] == "region = west"]
    assert not west or west[0]["explained_by"] == top["description"]
    unexplained = [s["impact"] for s in r["blind_spots"] if s["explained_by"] is None]
    assert unexplained == sorted(unexplained, reverse=True)


def test_a_mean_metric_uses_welch_as_scipy_does(
    http: httpx.Client, data: dict[str, dict[str, np.ndarray]]
) -> None:
    r = _spots(http, "weak", metric="latency", max_pairs=3)
    assert r["test"] == "welch_t" and r["pairs_tested"] <= 3
    assert r["blind_spots"], r
    d = data["weak"]
    for s in r["blind_spots"][:3]:
        mask = _mask(d, s["conditions"])
        a, b = d["latency"][mask], d["latency"][~mask]
        want = sps.ttest_ind(a, b, equal_var=False)
        assert s["p_value"] == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300)
        ci = want.confidence_interval(0.95)
        assert (s["low"], s["high"]) == pytest.approx((ci.low, ci.high), rel=1e-6)


def test_the_link_samples_exactly_the_slices_events(
    http: httpx.Client, data: dict[str, dict[str, np.ndarray]]
) -> None:
    top = _spots(http, "weak", metric="accuracy")["blind_spots"][0]
    assert top["exact_link"]
    r = http.get(top["events"] + "&format=json&limit=5000")
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Mlwarden-Window-Events"]) == top["rows"]
    rows = r.json()
    assert len(rows) == top["rows"]
    assert {row["event_id"] for row in rows} == {
        f"e{i}" for i in np.flatnonzero(_mask(data["weak"], top["conditions"]))
    }


def test_a_stable_model_has_no_blind_spot(
    http: httpx.Client, data: dict[str, dict[str, np.ndarray]]
) -> None:
    r = _spots(http, "stable", metric="accuracy")
    assert r["slices_tested"] > 10 and r["blind_spots"] == []


def test_bad_requests_are_refused(http: httpx.Client, data: Any) -> None:
    assert http.get("/v1/models/weak/blind-spots", params={"metric": "mae"}).status_code in (
        400,
        422,
    )
    bad = http.get("/v1/models/weak/events/sample", params={**RANGE, "range": "amount:9:1"})
    assert bad.status_code in (400, 422) and "range" in bad.text
    bad = http.get("/v1/models/weak/events/sample", params={**RANGE, "range": "region:1:"})
    assert bad.status_code in (400, 422)


def test_with_a_reference_the_bins_are_its_quartiles(
    http: httpx.Client, data: dict[str, dict[str, np.ndarray]]
) -> None:
    # last in the module: the reference changes the 'weak' model's bins for later requests
    ref = scenario(9, planted=False)
    lines = ["region,amount,age,prediction"] + [
        f"{ref['region'][i]},{float(ref['amount'][i])!r},{float(ref['age'][i])!r},{ref['pred'][i]}"
        for i in range(1000)
    ]
    r = http.post(
        "/v1/models/weak/reference", content="\n".join(lines),
        headers={"content-type": "text/csv"},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    top = _spots(http, "weak", metric="accuracy")["blind_spots"][0]
    conds = {c["column"]: c for c in top["conditions"]}
    assert set(conds) == {"region", "amount"}, top["description"]
    q75 = float(np.quantile(ref["amount"][:1000], 0.75, method="lower"))
    assert conds["amount"]["low"] == pytest.approx(q75) and conds["amount"]["high"] is None
