"""Model specs, schema inference and per-row batch validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.errors import SchemaError
from mlwarden.schema import (
    Feature,
    FeatureKind,
    ModelSpec,
    Task,
    infer_spec,
    validate_rows,
    validate_table,
)
from mlwarden.schema.batch import validate_actual_rows


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["paris", "oslo", "rome"], n),
            "vip": rng.random(n) < 0.2,
            "note": [
                f"customer wrote a long complaint about item {i} and shipping" for i in range(n)
            ],
            "user_id": [f"u{i:06d}" for i in range(n)],
            "signup": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "target": rng.integers(0, 2, n),
        }
    )


def test_infer_from_pandas_polars_arrow_and_files(tmp_path: Path) -> None:
    df = frame()
    expected = {
        "age": FeatureKind.NUMERIC,
        "income": FeatureKind.NUMERIC,
        "city": FeatureKind.CATEGORICAL,
        "vip": FeatureKind.BOOLEAN,
        "note": FeatureKind.TEXT,
        "signup": FeatureKind.TIMESTAMP,
    }
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "ref.parquet")
    df.drop(columns=["signup"]).to_csv(tmp_path / "ref.csv", index=False)
    sources = [
        df,
        pl.from_pandas(df),
        pa.Table.from_pandas(df, preserve_index=False),
        tmp_path / "ref.parquet",
    ]
    for src in sources:
        inf = infer_spec(src, name="churn", segments=["city"])
        kinds = {f.name: f.kind for f in inf.spec.features}
        assert kinds == expected, src
        assert inf.spec.task is Task.BINARY
        assert inf.spec.classes == ("0", "1")
        assert (inf.spec.target, inf.spec.prediction, inf.spec.score) == (
            "target",
            "prediction",
            "score",
        )
        assert any("user_id" in n and "identifier" in n for n in inf.notes)
    csv = infer_spec(tmp_path / "ref.csv", name="churn")
    assert "signup" not in csv.spec.feature_names and csv.spec.feature("city") is not None


def test_infer_tasks() -> None:
    base = {"x": [1.0, 2.0, 3.0, 4.0]}
    assert (
        infer_spec(pa.table({**base, "target": [0.5, 1.2, 3.3, 0.1]}), name="r").spec.task
        is Task.REGRESSION
    )
    assert (
        infer_spec(pa.table({**base, "target": [0, 1, 2, 1]}), name="m").spec.task
        is Task.MULTICLASS
    )
    assert infer_spec(
        pa.table({**base, "target": ["a", "b", "a", "b"]}), name="b"
    ).spec.classes == ("a", "b")
    assert infer_spec(pa.table(base), name="l").spec.task is Task.LLM


def test_infer_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="'nope'"):
        infer_spec(pa.table({"x": [1]}), name="m", target="nope")
    with pytest.raises(SchemaError, match="does not exist"):
        infer_spec(tmp_path / "missing.parquet", name="m")
    with pytest.raises(SchemaError, match="DataFrame"):
        infer_spec([1, 2, 3], name="m")
    with pytest.raises(SchemaError, match="no columns"):
        infer_spec(pa.table({}), name="m")


def test_spec_validation_messages() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Feature(name="prediction", kind="numeric")
    with pytest.raises(ValueError, match="unique"):
        ModelSpec(name="m", task="binary", features=[Feature(name="a", kind="numeric")] * 2)
    with pytest.raises(ValueError, match="two labels"):
        ModelSpec(name="m", task="binary", classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="model name"):
        ModelSpec(name="no spaces please", task="binary")
    spec = ModelSpec(name="m", task="binary", classes=[True, False])
    assert spec.classes == ("1", "0")


SPEC = ModelSpec(
    name="m",
    task="binary",
    classes=[0, 1],
    features=[
        Feature(name="x", kind="numeric"),
        Feature(name="c", kind="categorical"),
        Feature(name="b", kind="boolean"),
        Feature(name="e", kind="embedding", dim=2),
    ],
    segments=["region"],
)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"features": {"x": "1"}, "prediction": 1}, "features.x"),
        ({"features": {"b": 2}, "prediction": 1}, "features.b"),
        ({"features": {"e": [1, 2, 3]}, "prediction": 1}, "features.e"),
        ({"features": {"x": 1}}, "prediction"),
        ({"prediction": 7}, "prediction"),
        ({"prediction": 1, "score": 1.5}, "score"),
        ({"prediction": 1, "latency_ms": -1}, "latency_ms"),
        ({"prediction": 1, "timestamp": "yesterday"}, "timestamp"),
        ({"prediction": 1, "predicton": 1}, "predicton"),
        ({"prediction": 1, "event_id": "x" * 200}, "event_id"),
        ({"prediction": 1, "segments": {"country": "fr"}}, "segments.country"),
        ("not an object", ""),
    ],
)
def test_bad_rows_are_rejected_with_field_and_good_rows_kept(row: object, field: str) -> None:
    good = {
        "event_id": "ok",
        "features": {"x": 1.0, "c": "a", "b": True, "e": [0.1, 0.2]},
        "prediction": 0,
    }
    r = validate_rows(SPEC, [good, row, good | {"event_id": "ok2"}])
    assert [x.index for x in r.rejected] == [1]
    assert r.rejected[0].field == field
    assert r.rejected[0].reason
    assert r.table.column("event_id").to_pylist() == ["ok", "ok2"]


def test_json_rows_canonical_values_and_evolution() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    r = validate_rows(
        SPEC,
        [
            {
                "event_id": 5,
                "features": {"x": 2, "new_num": 1.5},
                "prediction": True,
                "timestamp": 1767225600,
            },
            {"features": {"new_cat": "a"}, "prediction": "0", "segments": {"region": "eu"}},
        ],
        now=now,
    )
    assert not r.rejected
    t = r.table.to_pylist()
    assert t[0]["event_id"] == "5" and t[0]["prediction"] == "1" and t[0]["x"] == 2.0
    assert t[0]["ts"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert t[1]["ts"] == now and len(t[1]["event_id"]) == 32 and t[1]["region"] == "eu"
    assert {f.name: f.kind for f in r.new_features} == {
        "new_num": FeatureKind.NUMERIC,
        "new_cat": FeatureKind.CATEGORICAL,
    }
    assert t[0]["new_cat"] is None and t[1]["new_num"] is None


def test_arrow_table_validation_matches_json() -> None:
    rows = [
        {"event_id": "a", "prediction": 0, "x": 1.0, "c": "u", "region": "eu"},
        {"event_id": "b", "prediction": 3, "x": 2.0, "c": "v", "region": "us"},
        {"event_id": "c", "prediction": 1, "x": float("inf"), "c": "v", "region": "us"},
        {"event_id": "d", "prediction": 1, "x": None, "c": None, "region": None},
    ]
    r = validate_table(SPEC, pa.Table.from_pylist(rows))
    assert [(x.index, x.field) for x in r.rejected] == [(1, "prediction"), (2, "features.x")]
    assert r.table.column("event_id").to_pylist() == ["a", "d"]
    # numbers as strings are rejected as in JSON; integer categories become their labels
    mixed = pa.table(
        {"event_id": ["a", "b"], "prediction": [0, 1], "x": ["1.5", None], "c": [1, 2]}
    )
    r = validate_table(SPEC, mixed)
    assert [(x.index, x.field) for x in r.rejected] == [(0, "features.x")]
    assert r.table.column("c").to_pylist() == ["2"]


def test_actuals_validation() -> None:
    r = validate_actual_rows(
        SPEC, [{"event_id": "a", "actual": 1}, {"actual": 1}, {"event_id": "b", "actual": 9}]
    )
    assert r.table.column("actual").to_pylist() == ["1"]
    assert [(x.index, x.field) for x in r.rejected] == [(1, "event_id"), (2, "actual")]


@pytest.mark.parametrize(
    ("task", "classes", "actual"),
    [
        ("binary", ("0", "1"), pa.array([0, 1, 1, 0])),
        ("binary", ("0", "1"), pa.array([True, False, True, True])),
        ("binary", ("0", "1"), pa.array([0.0, 1.0, 1.0, 0.0])),
        ("multiclass", ("a", "b", "c"), pa.array(["a", "c", "b", "a"])),
        ("regression", (), pa.array([0.5, 2.0, -3.0, 7.0])),
        ("regression", (), pa.array([1, 2, 3, 4])),
        # not plainly valid: the row path words the rejections
        ("binary", ("0", "1"), pa.array([0, 1, 2, None])),
        ("binary", ("0", "1"), pa.array([0.5, 1.0, 1.0, 0.0])),
        ("regression", (), pa.array([0.5, float("inf"), 1.0, 2.0])),
    ],
)
def test_actuals_table_checked_whole_equals_row_by_row(
    task: str, classes: tuple[str, ...], actual: pa.Array
) -> None:
    from mlwarden.schema.batch import validate_actuals_table

    spec = ModelSpec(
        name="m", task=task, classes=classes, features=[Feature(name="x", kind="numeric")]
    )
    table = pa.table({"event_id": ["e1", "e2", "e3", "e4"], "actual": actual})
    now = datetime(2026, 1, 5, tzinfo=UTC)
    got = validate_actuals_table(spec, table, now=now)
    want = validate_actual_rows(spec, table.to_pylist(), now=now)
    assert got.table.equals(want.table)
    assert [(r.index, r.field, r.reason) for r in got.rejected] == [
        (r.index, r.field, r.reason) for r in want.rejected
    ]
