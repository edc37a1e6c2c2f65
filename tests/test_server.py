"""End to end against the real server process on a loopback port."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from serverproc import ServerProcess, free_port

ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
N_FEATURES = 20


def reference(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(N_FEATURES)})
    df["region"] = rng.choice(["eu", "us", "apac"], n)
    df["score"] = rng.random(n)
    df["prediction"] = (df["score"] > 0.5).astype(int)
    df["target"] = rng.integers(0, 2, n)
    return df


def ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def event_table(start: int, n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    cols: dict[str, object] = {
        "event_id": [f"e{i}" for i in range(start, start + n)],
        "timestamp": pa.array(
            np.datetime64("2026-03-01T00:00:00")
            + (np.arange(start, start + n) * 1_000_000).astype("timedelta64[us]")
        ),
        "prediction": (score > 0.5).astype(np.int64),
        "score": score,
        "latency_ms": rng.gamma(2.0, 5.0, n),
    }
    for i in range(N_FEATURES):
        cols[f"f{i}"] = rng.normal(size=n)
    cols["region"] = rng.choice(["eu", "us", "apac"], n)
    return pa.table(cols)


def register(http: httpx.Client, name: str = "churn") -> dict[str, object]:
    body = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(reference(), preserve_index=False), body)
    r = http.post(
        f"/v1/models/{name}/reference",
        params={"create": "true", "segments": ["region"], "version": "v1"},
        content=body.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def test_hundred_thousand_events_json_and_arrow_with_actuals(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        reg = register(http)
        spec = reg["spec"]
        assert (
            isinstance(spec, dict)
            and spec["task"] == "binary"
            and len(spec["features"]) == N_FEATURES + 1
        )
        sent_pred = []
        # 50k as JSON in 1k-row batches
        for b in range(50):
            t = event_table(b * 1000, 1000, seed=b)
            rows = [
                {
                    "event_id": r["event_id"],
                    "timestamp": r["timestamp"].isoformat() + "Z",
                    "prediction": r["prediction"],
                    "score": r["score"],
                    "latency_ms": r["latency_ms"],
                    "features": {f"f{i}": r[f"f{i}"] for i in range(N_FEATURES)}
                    | {"region": r["region"]},
                }
                for r in t.to_pylist()
            ]
            r = http.post("/v1/models/churn/events", json=rows)
            assert r.status_code == 200 and r.json()["accepted"] == 1000, r.text
            sent_pred.append(t.column("prediction").to_numpy())
        # 50k as Arrow IPC (gzip) in 5k-row batches
        for b in range(10):
            t = event_table(50_000 + b * 5000, 5000, seed=100 + b)
            r = http.post(
                "/v1/models/churn/events",
                content=gzip.compress(ipc(t)),
                headers=ARROW | {"content-encoding": "gzip"},
            )
            assert r.status_code == 200 and r.json()["accepted"] == 5000, r.text
            sent_pred.append(t.column("prediction").to_numpy())
        preds = np.concatenate(sent_pred)
        # actuals for every even event
        labels = {i: int((i * 7919) % 3 == 0) for i in range(0, 100_000, 2)}
        items = [{"event_id": f"e{i}", "actual": a} for i, a in labels.items()]
        for k in range(0, len(items), 10_000):
            r = http.post("/v1/models/churn/actuals", json=items[k : k + 10_000])
            assert r.status_code == 200, r.text

        counts = http.get("/v1/models/churn/counts", params={"window": "day"}).json()
        assert sum(c["events"] for c in counts) == 100_000
        assert sum(c["labelled"] for c in counts) == 50_000
        conf = http.get("/v1/models/churn/confusion").json()
        expected: dict[tuple[str, str], int] = {}
        for i, a in labels.items():
            key = (str(preds[i]), str(a))
            expected[key] = expected.get(key, 0) + 1
        assert {(c["prediction"], c["actual"]): c["n"] for c in conf} == expected
        seg = http.get(
            "/v1/models/churn/counts", params={"window": "all", "segment": "region:eu"}
        ).json()
        assert 0 < seg[0]["events"] < 100_000
        col = http.get("/v1/models/churn/columns/f3").json()
        assert col["n"] == 100_000 and col["nulls"] == 0 and -0.05 < col["sum"] / col["n"] < 0.05
        # re-sending a batch is a no-op
        t = event_table(50_000, 5000, seed=100)
        r = http.post("/v1/models/churn/events", content=ipc(t), headers=ARROW)
        assert r.json()["duplicates"] == 5000
        counts = http.get("/v1/models/churn/counts", params={"window": "week"}).json()
        assert sum(c["events"] for c in counts) == 100_000


def test_bad_inputs_get_precise_errors_and_good_rows_land(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        register(http)
        r = http.post(
            "/v1/models/churn/events", content=b"[{]", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]
        r = http.post("/v1/models/churn/events", content=b"garbage", headers=ARROW)
        assert r.status_code == 422 and "Arrow" in r.json()["error"]["message"]
        r = http.post("/v1/models/nope/events", json=[{"prediction": 1}])
        assert r.status_code == 404 and "'nope'" in r.json()["error"]["message"]
        r = http.post("/v1/models/churn/events", json={"not": "events"})  # one object = one event
        assert r.status_code == 422 and r.json()["rejected"][0]["field"] == "not"
        mixed = [
            {"event_id": "g1", "prediction": 1, "features": {"f0": 0.5}},
            {"event_id": "b1", "prediction": 1, "features": {"f0": "high"}},
            {"event_id": "b2", "features": {"f0": 1.0}},
            {"event_id": "g2", "prediction": 0, "score": 0.2},
            {"event_id": "b3", "prediction": 2},
        ]
        r = http.post("/v1/models/churn/events", json=mixed)
        assert r.status_code == 207
        body = r.json()
        assert body["accepted"] == 2
        assert [(x["index"], x["field"]) for x in body["rejected"]] == [
            (1, "features.f0"),
            (2, "prediction"),
            (4, "prediction"),
        ]
        assert "must be a number" in body["rejected"][0]["reason"]
        q = http.get("/v1/models/churn/quarantine").json()
        assert sorted(x["row_index"] for x in q) == [0, 1, 2, 4]
        counts = http.get("/v1/models/churn/counts", params={"window": "all"}).json()
        assert counts[0]["events"] == 2
        r = http.post("/v1/models/churn/events", json=[{"prediction": 9}])
        assert r.status_code == 422 and r.json()["accepted"] == 0
        r = http.post("/v1/models", json={"name": "x", "task": "clasification"})
        assert r.status_code == 422 and "task" in r.json()["error"]["message"]
        r = http.get("/v1/models/churn/counts", params={"window": "fortnight"})
        assert r.status_code == 422
        r = http.get("/v1/models/churn/columns/nope")
        assert r.status_code == 404 and "'nope'" in r.json()["error"]["message"]
        assert http.get("/v1/health").json()["status"] == "ok"


def test_oversize_payload_is_413(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "d", "--max-body-mb", "0.05").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            http.post("/v1/models", json={"name": "m", "task": "regression"})
            big = [{"prediction": 1.0, "features": {"x": 1.0}}] * 5000
            r = http.post("/v1/models/m/events", json=big)
            assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
            bomb = gzip.compress(b"[" + b'{"prediction": 1.0},' * 20000 + b"{}]")
            r = http.post(
                "/v1/models/m/events",
                content=bomb,
                headers={"content-type": "application/json", "content-encoding": "gzip"},
            )
            assert len(bomb) < 50_000 and r.status_code == 413
            assert http.post("/v1/models/m/events", json=big[:10]).status_code == 200
    finally:
        srv.stop()


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_api_keys_projects_and_unsafe_bind(tmp_path: Path) -> None:
    data = tmp_path / "d"
    refused = cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(data))
    assert refused.returncode == 2
    assert "without API keys" in refused.stderr and "Traceback" not in refused.stderr
    rw = ("--scope", "ingest", "--scope", "read")
    key_a = cli("keys", "create", "--project", "alpha", *rw, "--data-dir", str(data)).stdout.strip()
    key_b = cli("keys", "create", "--project", "beta", *rw, "--data-dir", str(data)).stdout.strip()
    assert key_a.startswith("mlw_") and key_a != key_b
    assert key_a not in (data / "keys.json").read_text()
    srv = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            r = http.get("/v1/models")
            assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
            assert (
                http.get("/v1/models", headers={"authorization": "Bearer mlw_x_y"}).status_code
                == 401
            )
            a = {"authorization": f"Bearer {key_a}"}
            b = {"x-api-key": key_b}
            assert (
                http.post(
                    "/v1/models", json={"name": "m", "task": "regression"}, headers=a
                ).status_code
                == 201
            )
            assert [m["name"] for m in http.get("/v1/models", headers=a).json()] == ["m"]
            assert http.get("/v1/models", headers=b).json() == []
            assert http.get("/v1/models/m", headers=b).status_code == 404
            key_id = key_b[4:].split("_")[0]
            assert cli("keys", "revoke", key_id, "--data-dir", str(data)).returncode == 0
            r = http.get("/v1/models", headers=b)
            assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
            assert http.get("/v1/health").status_code == 200
    finally:
        srv.stop()
