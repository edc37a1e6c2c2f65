"""Bad or hostile input gets a 4xx in the JSON error shape, and bad rows never take good ones
down: new-column limits, time range, nesting depth, control characters, repeated Arrow
columns (see docs/limits.md). One real server for the module: each test uses its own model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from mlwarden.schema.batch import validate_rows
from mlwarden.schema.spec import Feature, ModelSpec
from mlwarden.store.duckdb_engine import DuckDBStore
from serverproc import ServerProcess

ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("hostile") / "data", "--evaluate-every", "0"
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as client:
            yield client
    finally:
        srv.stop()


def ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def model(http: httpx.Client, name: str, *, task: str = "regression", **extra: Any) -> None:
    spec = {
        "name": name,
        "task": task,
        "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
        **extra,
    }
    r = http.post("/v1/models", json=spec)
    assert r.status_code == 201, r.text


def error_of(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    """The reply is a 4xx in the one error shape; its ``error`` object."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and {"type", "message"} <= set(body["error"]), body
    err: dict[str, Any] = body["error"]
    return err


def event(i: int, **features: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "timestamp": (NOW - timedelta(minutes=i)).isoformat(),
        "prediction": 1.0,
        "features": {"x": float(i), "c": "a", **features},
    }


# -- 1. columns a request may add ------------------------------------------------------------


def test_a_request_with_too_many_new_names_is_refused_whole(http: httpx.Client) -> None:
    model(http, "wide")
    names = {f"n{i}": 1.0 for i in range(500)}
    err = error_of(http.post("/v1/models/wide/events", json=[event(0, **names)]))
    msg = err["message"]
    assert "500 new feature names" in msg and "100" in msg and "--max-new-features" in msg
    assert len(http.get("/v1/models/wide").json()["spec"]["features"]) == 2  # nothing evolved

    # Arrow alike: 160 unknown columns
    cols = {"prediction": [1.0], **{f"a{i}": [1.0] for i in range(160)}}
    err = error_of(http.post("/v1/models/wide/events", content=ipc(pa.table(cols)), headers=ARROW))
    assert "160 new feature names" in err["message"]

    # within the limit, new names are schema evolution as before
    r = http.post("/v1/models/wide/events", json=[event(1, **{f"k{i}": 1.0 for i in range(40)})])
    assert r.status_code == 200, r.text
    assert len(r.json()["new_features"]) == 40


def test_a_model_may_not_grow_past_max_features(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", "--max-features", "300", "--max-new-features", "50")
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            grow(http)
    finally:
        srv.stop()


def grow(http: httpx.Client) -> None:
    model(http, "grows")
    for k in range(5):  # 2 + 5 x 50 = 252 columns
        batch = {f"g{k}_{i}": 1.0 for i in range(50)}
        assert http.post("/v1/models/grows/events", json=[event(k, **batch)]).status_code == 200
    err = error_of(
        http.post("/v1/models/grows/events", json=[event(9, **{f"h{i}": 1 for i in range(49)})])
    )
    assert "301 feature columns" in err["message"] and "--max-features" in err["message"]

    huge = {
        "name": "huge",
        "task": "regression",
        "features": [{"name": f"f{i}", "kind": "numeric"} for i in range(20_000)],
    }
    err = error_of(http.post("/v1/models", json=huge))
    assert "20000 feature columns" in err["message"] and "300" in err["message"]
    assert http.get("/v1/models/huge").status_code == 404


# -- 2. timestamps --------------------------------------------------------------------------


def test_far_future_times_are_rejected_per_row_json_and_arrow(http: httpx.Client) -> None:
    model(http, "times")
    rows = [event(i) for i in range(5)]
    rows[2]["timestamp"] = "9999-12-31T23:59:59Z"
    r = http.post("/v1/models/times/events", json=rows)
    assert r.status_code == 207, r.text
    out = r.json()
    assert out["accepted"] == 4
    assert [(x["index"], x["field"]) for x in out["rejected"]] == [(2, "timestamp")]
    assert "2200-01-01" in out["rejected"][0]["reason"]

    n = 1000
    ts = [NOW - timedelta(seconds=i) for i in range(n)]
    table = pa.table(
        {
            "event_id": [f"a{i}" for i in range(n)],
            "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "prediction": [1.0] * n,
        }
    )
    seconds = pa.array([int(t.timestamp()) for t in ts[:-1]] + [30_000 * 31_556_952], pa.int64())
    table = table.set_column(1, "timestamp", seconds.cast(pa.timestamp("s", tz="UTC")))
    r = http.post("/v1/models/times/events", content=ipc(table), headers=ARROW)
    assert r.status_code == 207, r.text
    out = r.json()
    assert out["accepted"] == n - 1
    assert [(x["index"], x["field"]) for x in out["rejected"]] == [(n - 1, "timestamp")]
    # the quarantine keeps the Arrow row itself, its unrepresentable time as Arrow writes it
    stored = http.get("/v1/models/times/quarantine").json()
    arrow_row = next(q for q in stored if f'"a{n - 1}"' in (q["payload"] or ""))
    assert "31970-01-01" in arrow_row["payload"], arrow_row

    r = http.post(
        "/v1/models/times/actuals",
        json=[
            {"event_id": "e0", "actual": 1.0},
            {"event_id": "e1", "actual": 2.0, "timestamp": "9999-01-01T00:00:00Z"},
        ],
    )
    assert r.status_code == 207, r.text
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "timestamp")]


def test_only_the_first_thousand_rejections_are_listed(http: httpx.Client) -> None:
    model(http, "manybad")
    rows: list[Any] = [{}] * 5_000 + [event(0)]  # a 15 KB body; listing all made 0.5 MB
    r = http.post("/v1/models/manybad/events", json=rows)
    assert r.status_code == 207, r.text
    out = r.json()
    assert (out["received"], out["accepted"], out["rejected_count"]) == (5_001, 1, 5_000)
    assert [x["index"] for x in out["rejected"]] == list(range(1_000))
    stored = http.get("/v1/models/manybad/quarantine", params={"limit": 10_000}).json()
    assert len(stored) == 1_000


def test_a_stored_far_future_event_does_not_break_pages(tmp_path: Path) -> None:
    """Files written before the range check may hold one: pages and the API still answer."""
    data = tmp_path / "data"
    data.mkdir()
    store = DuckDBStore(data / "mlwarden.duckdb")
    spec = ModelSpec(name="old", task="regression", features=[Feature(name="x", kind="numeric")])
    rec = store.create_model("default", spec)
    good = validate_rows(spec, [event(i) for i in range(20)]).table
    far = good.slice(0, 1).to_pylist()[0] | {
        "event_id": "far",
        "ts": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    }
    bad = pa.Table.from_pylist([far], schema=good.schema)
    store.append_events(rec, pa.concat_tables([good, bad])).result()
    store.close()

    srv = ServerProcess(data, "--evaluate-every", "0").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            for path in (
                "/ui/models/old",
                "/ui/models/old?tab=drift",
                "/ui/models/old?tab=quality",
                "/ui/models/old/compare",
                "/v1/models/old/counts?window=day",
            ):
                r = http.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[-2000:])
    finally:
        srv.stop()


# -- 3. clean 4xx for bad input --------------------------------------------------------------


def test_invalid_version_name_is_422(http: httpx.Client) -> None:
    model(http, "versions")
    err = error_of(http.post("/v1/models/versions/versions", json={"version": "bad name!"}))
    assert "version name" in err["message"]
    assert http.post("/v1/models/versions/versions", json={"version": "v2"}).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/nul/counts?version=v%00",
        "/v1/models/nul/counts?segment=c:a%00",
        "/v1/models/nul/columns/c?version=%00",
        "/v1/llm/usage?user=a%00b",
        "/v1/llm/traces/ab%00cd",
        "/v1/llm/spans?model=%01",
    ],
)
def test_control_characters_in_parameters_are_422(http: httpx.Client, path: str) -> None:
    if http.get("/v1/models/nul").status_code == 404:
        model(http, "nul")
        assert http.post("/v1/models/nul/events", json=[event(0)]).status_code == 200
    err = error_of(http.get(path))
    assert "control characters" in err["message"]


def test_deeply_nested_feature_is_422(http: httpx.Client) -> None:
    model(http, "deep")
    deep = b"[" * 1_000 + b"1" + b"]" * 1_000  # json.dumps itself cannot write it
    body = b'[{"prediction": 1.0, "features": {"x": 1.0, "deep": ' + deep + b"}}]"
    r = http.post(
        "/v1/models/deep/events", content=body, headers={"content-type": "application/json"}
    )
    err = error_of(r)
    assert "deeper than" in err["message"]
    # an embedding (4 levels in all) is fine
    r = http.post("/v1/models/deep/events", json=[event(1, emb=[0.1, 0.2])])
    assert r.status_code == 200, r.text


def test_arrow_stream_with_a_repeated_column_is_422(http: httpx.Client) -> None:
    model(http, "dupcols")
    table = pa.Table.from_arrays(
        [pa.array(["e1"]), pa.array([1.0]), pa.array([2.0])], names=["event_id", "x", "x"]
    )
    err = error_of(http.post("/v1/models/dupcols/events", content=ipc(table), headers=ARROW))
    assert "'x'" in err["message"] and "unique" in err["message"]


def test_top_values_of_a_categorical_column(http: httpx.Client) -> None:
    model(http, "cats")
    rows = [event(i, c="a" if i % 3 else "b") for i in range(9)]
    assert http.post("/v1/models/cats/events", json=rows).status_code == 200
    r = http.get("/v1/models/cats/columns/c")
    assert r.status_code == 200, r.text
    assert r.json()["top"] == [{"value": "a", "n": 6}, {"value": "b", "n": 3}]


@pytest.mark.parametrize("path", ["/v1/llm/usage", "/v1/llm/flags", "/v1/models/nul/counts"])
def test_start_must_be_an_iso_time(http: httpx.Client, path: str) -> None:
    if http.get("/v1/models/nul").status_code == 404:
        model(http, "nul")
    for bad in ("0.5", "yesterday", "12"):
        err = error_of(http.get(path, params={"start": bad}))
        assert err["errors"][0]["field"] == "start", err
    assert http.get(path, params={"start": "2026-01-01", "end": "2026-01-02T00:00:00Z"}).is_success
    # a well-formed time past the stored range is a filter that keeps nothing (not an error,
    # and not year 9999 reaching the engine)
    far = http.get(path, params={"start": "9999-01-01"})
    assert far.status_code == 200 and far.json() == [], far.text


def test_empty_alerting_config_is_422(http: httpx.Client) -> None:
    err = error_of(
        http.put("/v1/alerting", content=b"", headers={"content-type": "application/yaml"})
    )
    assert "empty" in err["message"]


# -- 7. numbers too large to sum --------------------------------------------------------------


def test_a_value_beyond_float64_rejects_its_row_only(http: httpx.Client) -> None:
    """``1e400`` is valid JSON that no float holds: its row goes to quarantine with the reason,
    the two good rows are stored (the whole body used to be refused)."""
    model(http, "huge")
    body = b"[%s, %s, %s]" % (
        httpx.Request("POST", "/", json=event(0)).content,
        httpx.Request("POST", "/", json=event(1)).content.replace(b'"x":1.0', b'"x":1e400'),
        httpx.Request("POST", "/", json=event(2)).content,
    )
    assert b"1e400" in body
    r = http.post(
        "/v1/models/huge/events", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 207, r.text
    out = r.json()
    assert out["accepted"] == 2
    assert [(x["index"], x["field"]) for x in out["rejected"]] == [(1, "features.x")]
    assert "magnitude at most 1e+150" in out["rejected"][0]["reason"]
    stored = http.get("/v1/models/huge/quarantine").json()
    assert [(q["row_index"], q["field"]) for q in stored] == [(1, "features.x")]


@pytest.mark.parametrize("arrow", [False, True], ids=["json", "arrow"])
def test_values_whose_squares_overflow_are_rejected_and_sums_stay_finite(
    http: httpx.Client, arrow: bool
) -> None:
    """Two values of 1e308 made the window's sum and sum of squares null (inf) for every row:
    such values are rejected per row, so the stored column's moments are finite and exact."""
    name = f"big_{'arrow' if arrow else 'json'}"
    model(http, name)
    xs = [float(i) for i in range(40)]
    xs[3] = xs[7] = 1e308
    xs[9] = -1e200
    if arrow:
        t = pa.table(
            {
                "event_id": [f"e{i}" for i in range(40)],
                "timestamp": pa.array([NOW - timedelta(minutes=i) for i in range(40)]),
                "prediction": [1.0] * 40,
                "x": xs,
                "c": ["a"] * 40,
            }
        )
        r = http.post(f"/v1/models/{name}/events", content=ipc(t), headers=ARROW)
    else:
        r = http.post(f"/v1/models/{name}/events", json=[event(i, x=x) for i, x in enumerate(xs)])
    assert r.status_code == 207, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [3, 7, 9]
    kept = [x for i, x in enumerate(xs) if i not in (3, 7, 9)]
    col = http.get(f"/v1/models/{name}/columns/x").json()
    assert col["n"] == 37
    assert col["sum"] == pytest.approx(sum(kept))
    assert col["sum_sq"] == pytest.approx(sum(x * x for x in kept))


def test_a_regression_actual_beyond_the_range_is_rejected_alone(http: httpx.Client) -> None:
    model(http, "huge_actuals")
    assert http.post("/v1/models/huge_actuals/events", json=[event(0), event(1)]).status_code == 200
    body = b'[{"event_id": "e0", "actual": 2.5}, {"event_id": "e1", "actual": -1e400}]'
    r = http.post(
        "/v1/models/huge_actuals/actuals",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 207, r.text
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "actual")]
    t = pa.table({"event_id": ["e0", "e1"], "actual": [1.0, 1e300]})
    r = http.post("/v1/models/huge_actuals/actuals", content=ipc(t), headers=ARROW)
    assert r.status_code == 207, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [1]


def test_nan_literals_stay_invalid_json(http: httpx.Client) -> None:
    model(http, "nan_literal")
    r = http.post(
        "/v1/models/nan_literal/events",
        content=b'[{"prediction": 1.0, "features": {"x": NaN}}, {"x": 1e400}]',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in error_of(r)["message"]
