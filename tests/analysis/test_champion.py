"""Champion / challenger over 30 days, through the SDK, the server and ``GET .../champion``.

The challenger (v2) is better overall but nearly blind in region = west (planted). In shadow
(the SDK's ``shadow=`` argument: the same event ids) the API must compare on pairs and say both,
with intervals; its AUCs must equal scikit-learn's and its McNemar p-value statsmodels' on the
same rows. The A/B variant (each request scored by one version) must be compared unpaired, with
the always-valid sequential test. Before labels, the predictions are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar

import mlwarden
from serverproc import ServerProcess

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS, PER_DAY = 30, 200
N = DAYS * PER_DAY
SPEC = {
    "task": "binary", "classes": ["0", "1"], "score": "score", "segments": ["region"],
    "features": [{"name": "x", "kind": "numeric"}],
}  # fmt: skip


def scenario(seed: int) -> dict[str, np.ndarray]:
    """Scores of both versions for the same requests; v2 better except in the west."""
    rng = np.random.default_rng(seed)
    region = np.array(["north", "south", "east", "west"])[rng.choice(4, N, p=[0.3, 0.3, 0.2, 0.2])]
    y = (rng.random(N) < 0.35).astype(int)
    s, shared = 2 * y - 1, rng.normal(size=N)
    la = 0.9 * s + 0.8 * shared + 0.9 * rng.normal(size=N)
    lb = np.where(region == "west", 0.15 * s, 1.5 * s) + 0.8 * shared + 0.9 * rng.normal(size=N)
    return {
        "region": region, "x": rng.normal(size=N), "y": y,
        "sa": 1 / (1 + np.exp(-la)), "sb": 1 / (1 + np.exp(-lb)),
    }  # fmt: skip


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("champion") / "data", "--evaluate-every", "0")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def http(srv: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=300) as c:
        yield c


def _log(
    srv: ServerProcess, spool: Path, name: str, d: dict[str, np.ndarray], *, ab: bool, labels: bool
) -> None:
    """Log through the SDK: in shadow (both versions per request, one call) or split A/B."""
    with mlwarden.init(model=name, version="v1", url=srv.url, spool_dir=spool) as m:
        for i in range(N):
            ts = START + timedelta(seconds=i * 86400 // PER_DAY)
            feats, seg = {"x": float(d["x"][i])}, {"region": str(d["region"][i])}
            sa, sb = float(d["sa"][i]), float(d["sb"][i])
            if not ab:
                m.log(feats, int(sa >= 0.5), score=sa, event_id=f"r{i}", timestamp=ts,
                      segments=seg, shadow={"v2": (int(sb >= 0.5), sb)})  # fmt: skip
            elif i % 2 == 0:
                m.log(feats, int(sa >= 0.5), score=sa, event_id=f"r{i}", timestamp=ts,
                      segments=seg)  # fmt: skip
            if labels:
                m.log_actual(f"r{i}", int(d["y"][i]))
        assert m.flush(120)
    if ab:
        with mlwarden.init(model=name, version="v2", url=srv.url, spool_dir=spool) as m2:
            for i in range(1, N, 2):
                ts = START + timedelta(seconds=i * 86400 // PER_DAY)
                sb = float(d["sb"][i])
                m2.log({"x": float(d["x"][i])}, int(sb >= 0.5), score=sb, event_id=f"r{i}",
                       timestamp=ts, segments={"region": str(d["region"][i])})  # fmt: skip
            assert m2.flush(120)


def _register(http: httpx.Client, name: str) -> None:
    assert http.post("/v1/models", json={"name": name, **SPEC}).status_code == 201


def _champion(http: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    r = http.get(f"/v1/models/{name}/champion", params={"champion": "v1", "challenger": "v2",
                                                          **params})  # fmt: skip
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture(scope="module")
def shadow(http: httpx.Client, srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    d = scenario(1)
    _register(http, "shadowed")
    _log(srv, tmp_path_factory.mktemp("spool"), "shadowed", d, ab=False, labels=True)
    return d, _champion(http, "shadowed")


def test_shadow_rows_are_kept_beside_the_champions(
    shadow: tuple[dict[str, np.ndarray], dict[str, Any]],
) -> None:
    # keyed on event id alone, the challenger's rows were dropped as duplicates: no pairs
    _, out = shadow
    assert out["mode"] == "paired"
    assert out["events"] == {"pairs": N} and out["labelled"] == {"pairs": N}


def test_shadow_verdict_says_better_overall_and_worse_in_the_planted_segment(
    shadow: tuple[dict[str, np.ndarray], dict[str, Any]],
) -> None:
    d, out = shadow
    m = {x["metric"]: x for x in out["metrics"]}
    auc = m["roc_auc"]
    assert out["auc_method"] == "delong_raw"
    assert auc["champion"] == pytest.approx(roc_auc_score(d["y"], d["sa"]), abs=1e-9)
    assert auc["challenger"] == pytest.approx(roc_auc_score(d["y"], d["sb"]), abs=1e-9)
    assert auc["significant"] and 0 < auc["low"] < auc["diff"] < auc["high"]
    # McNemar against statsmodels on the same pairs
    ok_a, ok_b = (d["sa"] >= 0.5) == d["y"], (d["sb"] >= 0.5) == d["y"]
    table = [[int((ok_a & ok_b).sum()), int((ok_a & ~ok_b).sum())],
             [int((~ok_a & ok_b).sum()), int((~ok_a & ~ok_b).sum())]]  # fmt: skip
    ref = mcnemar(table, exact=False, correction=True)
    assert m["accuracy"]["test"] == "mcnemar_chi2"
    assert m["accuracy"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert m["accuracy"]["diff"] == pytest.approx(ok_b.mean() - ok_a.mean())
    assert out["agreement"] == pytest.approx(((d["sa"] >= 0.5) == (d["sb"] >= 0.5)).mean())
    worse = [s["condition"] for s in out["worse_slices"]]
    assert worse[0] == "region = west", worse
    assert all(s["high"] < 0 and s["adjusted_p"] < 0.05 for s in out["worse_slices"])
    assert (
        "better on AUC by" in out["verdict"] and "worse in segment region = west" in out["verdict"]
    )
    assert out["recommendation"].startswith("Promote v2 with care")
    # the daily series covers the 30 days for both versions
    assert len(out["daily"]) == DAYS and sum(x["n_challenger"] for x in out["daily"]) == N


def test_a_segment_filter_and_a_forced_mode_are_honoured(http: httpx.Client,
                                                         shadow: Any) -> None:  # fmt: skip
    d, _ = shadow
    out = _champion(http, "shadowed", segment="region:west")
    west = d["region"] == "west"
    assert out["events"]["pairs"] == int(west.sum())
    assert {x["metric"]: x for x in out["metrics"]}["roc_auc"]["diff"] < 0
    assert out["recommendation"].startswith("Keep v1")
    unpaired = _champion(http, "shadowed", mode="unpaired")
    assert unpaired["mode"] == "unpaired" and unpaired["events"] == {"champion": N,
                                                                     "challenger": N}  # fmt: skip


def test_ab_split_is_compared_unpaired_with_the_sequential_test(
    http: httpx.Client, srv: ServerProcess, tmp_path: Path
) -> None:
    d = scenario(2)
    _register(http, "split")
    _log(srv, tmp_path, "split", d, ab=True, labels=True)
    out = _champion(http, "split")
    assert out["mode"] == "unpaired"
    assert out["events"] == {"champion": N // 2, "challenger": N // 2}
    auc = {x["metric"]: x for x in out["metrics"]}["roc_auc"]
    a, b = np.arange(N) % 2 == 0, np.arange(N) % 2 == 1
    assert auc["champion"] == pytest.approx(roc_auc_score(d["y"][a], d["sa"][a]), abs=2e-3)
    assert auc["challenger"] == pytest.approx(roc_auc_score(d["y"][b], d["sb"][b]), abs=2e-3)
    assert auc["significant"] and auc["diff"] > 0
    seq = out["sequential"]
    assert len(seq) == DAYS
    assert all(s2["p_value"] <= s1["p_value"] for s1, s2 in zip(seq, seq[1:], strict=False))
    assert seq[-1]["low"] <= seq[-1]["diff"] <= seq[-1]["high"]
    assert "sequential test" in out["verdict"]
    assert out["worse_slices"][0]["condition"] == "region = west"
    assert "worse in segment region = west" in out["verdict"]
    assert out["recommendation"].startswith("Promote v2 with care")


def test_before_labels_the_predictions_are_compared(
    http: httpx.Client, srv: ServerProcess, tmp_path: Path
) -> None:
    d = scenario(3)
    _register(http, "unlabelled")
    _log(srv, tmp_path, "unlabelled", d, ab=False, labels=False)
    out = _champion(http, "unlabelled")
    assert out["metrics"] == [] and out["labelled"] == {"pairs": 0}
    before = out["before_labels"]
    assert before["positive_rate"]["challenger"] == pytest.approx((d["sb"] >= 0.5).mean())
    assert before["mean_score"]["champion"] == pytest.approx(d["sa"].mean(), abs=0.003)
    # CBPE-style: each prediction right with the probability its score gives (from 100 bins)
    est = before["estimated_accuracy"]
    for v, sc in (("champion", d["sa"]), ("challenger", d["sb"])):
        assert est[v] == pytest.approx(np.where(sc >= 0.5, sc, 1 - sc).mean(), abs=0.003)
    assert out["verdict"].startswith("No labels yet") and "Wait for labels" in out["recommendation"]


def test_bad_requests_are_refused(http: httpx.Client, shadow: Any) -> None:
    r = http.get("/v1/models/shadowed/champion", params={"champion": "v1", "challenger": "v1"})
    assert r.status_code == 422 and "challenger" in r.text
    r = http.get("/v1/models/shadowed/champion", params={"champion": "v1", "challenger": "v9"})
    assert r.status_code == 422 and "'v9'" in r.text
