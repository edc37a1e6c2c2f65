"""One validator for the wire contract: each defect sent as JSON rows and as an Arrow table is
rejected with the same field and the same message, and the good rows around it are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from mlwarden.schema import Feature, ModelSpec, validate_rows, validate_table

SPEC = ModelSpec(
    name="m",
    task="multiclass",
    classes=["a", "b", "c"],
    features=[
        Feature(name="x", kind="numeric"),
        Feature(name="c", kind="categorical"),
        Feature(name="b", kind="boolean"),
        Feature(name="e", kind="embedding", dim=2),
        Feature(name="t", kind="timestamp"),
        Feature(name="s", kind="text"),
    ],
    segments=["region"],
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = {"event_id": "ok", "prediction": "a"}
#: (column, bad value as JSON, the same value as Arrow (type, value) if JSON's differs)
DEFECTS: list[tuple[str, Any, Any]] = [
    ("x", "oops", None),
    ("x", 1e200, None),
    ("x", True, None),
    ("c", [1, 2], None),
    ("b", 2, None),
    ("b", "maybe", None),
    ("e", [1.0, 2.0, 3.0], None),
    ("e", "not a list", None),
    ("t", "someday", None),
    ("t", "1700-01-01T00:00:00+00:00", (pa.timestamp("us", tz="UTC"), datetime(1700, 1, 1))),
    ("s", 5, None),
    ("region", [1], None),
    ("prediction", "z", None),
    ("prediction", None, None),
    ("score", 1.5, None),
    ("score", "high", None),
    ("score__b", 1.5, None),
    ("latency_ms", -1.0, None),
    ("timestamp", "yesterday", None),
    (
        "timestamp",
        "2300-01-01T00:00:00+00:00",
        (pa.timestamp("us", tz="UTC"), datetime(2300, 1, 1)),
    ),
    ("timestamp", -5, None),
    ("event_id", "x" * 200, None),
    ("version", 2.5, None),
    ("version", "", None),
    ("status", 5, None),
    ("client_id", ["a"], None),
]


def as_json(column: str, value: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(GOOD)
    if column in {f.name for f in SPEC.features}:
        row["features"] = {column: value}
    elif column == "region":
        row["segments"] = {column: value}
    elif column.startswith("score__"):
        row["scores"] = {column.removeprefix("score__"): value}
    else:
        row[column] = value
    return row


def as_table(column: str, value: Any, arrow: Any) -> pa.Table:
    """Three rows, the middle one bad; the good rows hold null in the bad column."""
    typ, value = arrow if arrow is not None else (None, value)
    cols: dict[str, pa.Array] = {
        "event_id": pa.array(["g1", "bad", "g2"]),
        "prediction": pa.array(["a", "a", "b"]),
    }
    if column in cols:
        cols[column] = pa.array([cols[column][0].as_py(), value, cols[column][2].as_py()], typ)
    else:
        cols[column] = pa.array([None, value, None], typ)
    return pa.table(cols)


@pytest.mark.parametrize(
    ("column", "value", "arrow"), DEFECTS, ids=[f"{c}={v!r}"[:30] for c, v, _ in DEFECTS]
)
def test_a_defect_reads_the_same_as_json_rows_and_as_an_arrow_table(
    column: str, value: Any, arrow: Any
) -> None:
    good = [dict(GOOD, event_id="g1"), dict(GOOD, event_id="g2", prediction="b")]
    rows = [good[0], as_json(column, value) | {"event_id": "bad"}, good[1]]
    if column == "event_id":
        rows[1]["event_id"] = value
    from_json = validate_rows(SPEC, rows, now=NOW)
    from_arrow = validate_table(SPEC, as_table(column, value, arrow), now=NOW)
    got_json = [(r.index, r.field, r.reason) for r in from_json.rejected]
    got_arrow = [(r.index, r.field, r.reason) for r in from_arrow.rejected]
    assert len(got_json) == 1 and got_json[0][0] == 1, got_json
    assert got_json == got_arrow
    assert from_json.table.column("event_id").to_pylist() == ["g1", "g2"]
    assert from_arrow.table.column("event_id").to_pylist() == ["g1", "g2"]
