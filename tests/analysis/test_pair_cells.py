"""The counts a large comparison reads from the store's hourly cells against the join of the
raw events they replace, on the same DuckDB file.

Pair cells (``store/duckdb_pairs.py``) serve a paired comparison above ``RAW_LIMIT`` pairs
(lowered here so a small file takes that path); a range that does not start on a whole hour
makes the same comparison join the raw events, so each test compares the two answers over the
same events: every number, the verdict and the worse slices must be equal. Score cells
(``store/duckdb_score_cells.py``) must equal ``queries.score_bins`` over the raw rows. After
more events and late labels arrive, the cells (refreshed for the hours that changed) must
still equal the join.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.analysis import champion
from mlwarden.analysis.champion import compare_versions
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.schema.batch import validate_actuals_table
from mlwarden.store import DuckDBStore, queries
from mlwarden.store.pair_cells import PairCellSource

START = datetime(2026, 5, 4, tzinfo=UTC)
#: A start one microsecond before the first event: the same events, but not a whole hour, so
#: the comparison joins the raw events instead of reading the cells.
RAW_START = START - timedelta(microseconds=1)
SPEC = ModelSpec(
    name="m", task="binary", classes=["0", "1"], score="score", segments=["region"],
    features=[Feature(name="x", kind="numeric"), Feature(name="city", kind="categorical"),
              Feature(name="flag", kind="boolean")],
)  # fmt: skip


def _batch(rng: np.random.Generator, n: int, *, first: int, hours: float) -> dict[str, Any]:
    region = rng.choice(["north", "south", "east", "west"], n)
    y = (rng.random(n) < 0.35).astype(int)
    s, shared = 2 * y - 1, rng.normal(size=n)
    la = 0.9 * s + 0.8 * shared + 0.9 * rng.normal(size=n)
    lb = np.where(region == "west", 0.1 * s, 1.5 * s) + 0.8 * shared + 0.9 * rng.normal(size=n)
    offsets = first * 3.0 + np.sort(rng.random(n)) * hours * 3600
    return {
        "ids": [f"r{first + i}" for i in range(n)], "y": y, "region": region,
        "ts": [START + timedelta(seconds=float(o)) for o in offsets],
        # powers of ten: the cells' log-spaced bins start on them, so quartiles are equal
        "x": rng.choice([1.0, 10.0, 100.0, 1000.0], n), "city": rng.choice(["a", "b", "c"], n),
        "flag": rng.random(n) < 0.3,
        "sa": 1 / (1 + np.exp(-la)), "sb": 1 / (1 + np.exp(-lb)),
    }  # fmt: skip


def _store_batch(store: DuckDBStore, model: Any, d: dict[str, Any], *, labelled: float) -> None:
    for version, score, shadow in (("v1", d["sa"], False), ("v2", d["sb"], True)):
        sc: list[float | None] = [float(v) for v in score]
        if version == "v2":
            sc[5] = None  # a challenger row without a score
        table = pa.table({
            "event_id": d["ids"], "timestamp": d["ts"], "version": [version] * len(d["ids"]),
            "prediction": (score >= 0.5).astype(np.int64), "score": pa.array(sc, pa.float64()),
            "x": d["x"], "city": d["city"], "flag": d["flag"], "region": d["region"].tolist(),
            "shadow": [shadow] * len(d["ids"]),
        })  # fmt: skip
        r = validate_table(SPEC, table)
        assert not r.rejected
        store.append_events(model, r.table).result()
    keep = np.flatnonzero(np.random.default_rng(1).random(len(d["ids"])) < labelled)
    _label(store, model, [d["ids"][i] for i in keep], [str(d["y"][i]) for i in keep])


def _label(store: DuckDBStore, model: Any, ids: list[str], labels: list[str]) -> None:
    r = validate_actuals_table(SPEC, pa.table({"event_id": ids, "actual": labels}))
    assert not r.rejected
    store.append_actuals(model, r.table).result()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBStore, Any]]:
    store = DuckDBStore(Path(tmp_path_factory.mktemp("cells")) / "db.duckdb")
    model = store.create_model("p", SPEC)
    rng = np.random.default_rng(3)
    d = _batch(rng, 3000, first=0, hours=30)
    _store_batch(store, model, d, labelled=0.8)
    model = store.get_model("p", "m")
    try:
        yield store, model
    finally:
        store.close()


@pytest.fixture
def low_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(champion, "RAW_LIMIT", 100)


def _same(cells: Any, raw: Any) -> None:
    a, b = dataclasses.asdict(cells), dataclasses.asdict(raw)
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.usefixtures("low_limit")
def test_pair_cells_give_the_comparison_of_the_join(filled: tuple[DuckDBStore, Any]) -> None:
    store, model = filled
    assert isinstance(store, PairCellSource)
    cells = store.pair_cells(model, versions=("v1", "v2"), start=None, end=None, columns=[])
    assert cells is not None and cells.pairs == 3000
    assert store.pair_cells(model, versions=("v1", "v2"), start=RAW_START, end=None,
                            columns=[]) is None  # fmt: skip
    for champ, chall in (("v1", "v2"), ("v2", "v1")):
        c = compare_versions(store, model, champion=champ, challenger=chall)
        r = compare_versions(store, model, champion=champ, challenger=chall, start=RAW_START)
        assert c.auc_method == r.auc_method == "delong_binned_100"
        _same(c, r)
    c = compare_versions(store, model, champion="v1", challenger="v2")
    assert [s.condition for s in c.worse_slices][:1] == ["region = west"]
    # a range of whole hours reads the cells of those hours only
    lo, hi = START + timedelta(hours=3), START + timedelta(hours=20)
    c = compare_versions(store, model, champion="v1", challenger="v2", start=lo, end=hi)
    r = compare_versions(store, model, champion="v1", challenger="v2", start=lo - timedelta(
        microseconds=1), end=hi)  # fmt: skip
    assert c.events["pairs"] < 3000
    _same(c, r)


@pytest.mark.usefixtures("low_limit")
def test_cells_follow_new_events_and_late_labels(filled: tuple[DuckDBStore, Any]) -> None:
    store, model = filled
    compare_versions(store, model, champion="v1", challenger="v2")  # cells built
    d = _batch(np.random.default_rng(9), 800, first=3000, hours=5)
    _store_batch(store, model, d, labelled=0.3)
    _label(store, model, [f"r{i}" for i in range(3000)],
           [str(v) for v in _batch(np.random.default_rng(3), 3000, first=0, hours=30)["y"]])  # fmt: skip
    c = compare_versions(store, model, champion="v1", challenger="v2")
    r = compare_versions(store, model, champion="v1", challenger="v2", start=RAW_START)
    assert c.events["pairs"] == 3800
    _same(c, r)
    # a challenger event whose champion pair lies in another hour: the cells miss that pair,
    # so the comparison joins the raw events (the same answer as the explicit raw range)
    d = _batch(np.random.default_rng(11), 60, first=9000, hours=1)
    _store_batch(store, model, d, labelled=1.0)
    late = pa.table({
        "event_id": d["ids"], "timestamp": [t + timedelta(hours=2) for t in d["ts"]],
        "version": ["v3"] * 60, "prediction": (d["sb"] >= 0.5).astype(np.int64),
        "score": d["sb"], "x": d["x"], "city": d["city"], "flag": d["flag"],
        "region": d["region"].tolist(), "shadow": [True] * 60,
    })  # fmt: skip
    store.append_events(model, validate_table(SPEC, late).table).result()
    v1_v3 = store.pair_cells(model, versions=("v1", "v3"), start=None, end=None, columns=[])
    assert v1_v3 is not None and v1_v3.pairs == 0
    c = compare_versions(store, model, champion="v1", challenger="v3", mode="paired")
    assert c.events["pairs"] == c.labelled["pairs"] == 60


def test_score_cells_equal_the_bins_of_the_raw_rows(filled: tuple[DuckDBStore, Any]) -> None:
    store, model = filled
    lo, hi = START + timedelta(hours=2), START + timedelta(hours=9)
    for version in (None, "v1", "v2"):
        for start, end in ((None, None), (lo, hi)):
            got = store.score_cells(model, bins=1000, positive="1", start=start, end=end,
                                    version=version)  # fmt: skip
            want = queries.score_bins(store.events(model), store.actuals(model), bins=1000,
                                      positive="1", start=start, end=end, version=version)  # fmt: skip
            assert got == want
            assert sum(got[0]) + sum(got[1]) > 0 if version != "v2" else True  # type: ignore[index]
    # shadow rows are not traffic: v2 (all shadow) has no labelled traffic scores
    v2 = store.score_cells(model, bins=1000, positive="1", start=None, end=None, version="v2")
    assert v2 is not None and sum(v2[0]) + sum(v2[1]) == 0
    assert store.score_cells(model, bins=1000, positive="1", start=lo + timedelta(minutes=1),
                             end=hi, version=None) is None  # fmt: skip
    assert store.score_cells(model, bins=100, positive="1", start=None, end=None,
                             version=None) is None  # fmt: skip
