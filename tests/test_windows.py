"""Two time windows compared over the API (statistics checked against scipy on the same values),
a window made the reference (monitors re-fitted, audited, refusals), and search scoped to the
caller's project; on the real server with real HTTP."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlwarden.store.keys import KeyStore
from serverproc import ServerProcess

MODEL = "win"
A0 = datetime(2026, 1, 5, tzinfo=UTC)  # window A: 300 events over 3 hours
B0 = datetime(2026, 1, 6, tzinfo=UTC)  # window B: 400 events over 2 hours, x shifted
CATS = ["a", "b", "c"]


@dataclass
class Sent:
    """What each window holds, as sent."""

    x: dict[str, np.ndarray]
    c: dict[str, list[str]]
    region: dict[str, list[str]]
    correct: dict[str, np.ndarray]


@dataclass
class Env:
    http: httpx.Client
    keys: dict[str, str]
    sent: Sent
    data: Path


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _reference() -> bytes:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    table = pa.table(
        {
            "x": rng.normal(size=600),
            "c": rng.choice(CATS, 600, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south"], 600),
            "prediction": np.where(rng.random(600) < 0.9, y, 1 - y),
            "outcome": y,
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _window(
    http: httpx.Client, key: str, side: str, *, t0: datetime, n: int, step_s: float, seed: int
) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    shift, p, right = (0.0, [0.5, 0.3, 0.2], 0.9) if side == "a" else (1.0, [0.2, 0.3, 0.5], 0.7)
    x = rng.normal(shift, 1.0, n)
    c = list(rng.choice(CATS, n, p=p))
    region = ["north" if i % 3 else "south" for i in range(n)]
    y = rng.integers(0, 2, n)
    ok = rng.random(n) < right
    rows = [
        {
            "event_id": f"{side}-{i}",
            "timestamp": (t0 + timedelta(seconds=i * step_s)).isoformat(),
            "features": {"x": float(x[i]), "c": c[i]},
            "segments": {"region": region[i]},
            "prediction": int(y[i] if ok[i] else 1 - y[i]),
        }
        for i in range(n)
    ]
    r = http.post(f"/v1/models/{MODEL}/events", json=rows, headers=_h(key))
    assert r.status_code == 200, r.text
    labels = [{"event_id": f"{side}-{i}", "actual": int(y[i])} for i in range(n)]
    assert http.post(f"/v1/models/{MODEL}/actuals", json=labels, headers=_h(key)).is_success
    return x, c, region, ok


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("windows")
    ks = KeyStore(data / "keys.json")
    keys = {
        "admin": ks.create("p", scopes=["ingest", "read", "operate", "admin"]),
        "read": ks.create("p", scopes=["read"]),
        "other": ks.create("q", scopes=["ingest", "read", "admin"]),
    }
    srv = ServerProcess(data, "--evaluate-every", "0").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=300) as http:
            r = http.post(
                f"/v1/models/{MODEL}/reference",
                params={"create": "true", "target": "outcome", "segments": ["region"]},
                content=_reference(),
                headers={**_h(keys["admin"]), "Content-Type": "application/vnd.apache.parquet"},
            )
            assert r.status_code == 201, r.text
            sent = Sent({}, {}, {}, {})
            for side, t0, n, step, seed in (("a", A0, 300, 36.0, 1), ("b", B0, 400, 18.0, 2)):
                x, c, region, ok = _window(
                    http, keys["admin"], side, t0=t0, n=n, step_s=step, seed=seed
                )
                sent.x[side], sent.c[side], sent.region[side] = x, c, region
                sent.correct[side] = ok
            yield Env(http, keys, sent, data)
    finally:
        srv.stop()


def _compare(env: Env, **extra: str | int) -> httpx.Response:
    params: dict[str, str | int] = {
        "a_start": A0.isoformat(),
        "a_end": (A0 + timedelta(hours=3)).isoformat(),
        "b_start": B0.isoformat(),
        "b_end": (B0 + timedelta(hours=2)).isoformat(),
        **extra,
    }
    return env.http.get(f"/v1/models/{MODEL}/compare", params=params, headers=_h(env.keys["read"]))


def test_compare_matches_scipy_on_the_same_values(env: Env) -> None:
    r = _compare(env)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["a"]["events"], body["b"]["events"]) == (300, 400)
    assert not body["a"]["sampled"] and not body["b"]["sampled"]
    cols = {c["column"]: c for c in body["columns"]}
    assert set(cols) >= {"x", "c", "prediction"}
    # sorted by effect: the shifted x first
    values = [c["value"] for c in body["columns"] if c["value"] is not None]
    assert values == sorted(values, reverse=True)
    assert body["columns"][0]["column"] == "x"

    xa, xb = env.sent.x["a"], env.sent.x["b"]
    ks = stats.ks_2samp(xa, xb, method="asymp")
    x = cols["x"]
    assert x["statistic"] == "ks" and x["kind"] == "numeric"
    assert x["value"] == pytest.approx(ks.statistic, abs=1e-12)
    assert x["p_value"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
    for side, xs in (("a", xa), ("b", xb)):
        assert x[side]["n"] == len(xs) and x[side]["missing"] == 0
        assert x[side]["mean"] == pytest.approx(xs.mean())
        assert x[side]["quantiles"]["p50"] == pytest.approx(np.quantile(xs, 0.5))
        assert x[side]["quantiles"]["p95"] == pytest.approx(np.quantile(xs, 0.95))

    counts = {s: np.array([env.sent.c[s].count(k) for k in CATS]) for s in ("a", "b")}
    c = cols["c"]
    assert c["statistic"] == "jensen_shannon" and c["kind"] == "categorical"
    js = jensenshannon(counts["a"] / 300, counts["b"] / 400, base=2)
    assert c["value"] == pytest.approx(js, abs=1e-12)
    chi2 = stats.chi2_contingency(np.vstack([counts["a"], counts["b"]]), correction=False)
    assert c["p_value"] == pytest.approx(chi2.pvalue, rel=1e-6, abs=1e-300)
    assert c["b"]["shares"]["c"] == pytest.approx(counts["b"][2] / 400)

    # performance over every labelled event, per window
    for side in ("a", "b"):
        w = body[side]
        assert w["labelled"] == len(env.sent.correct[side])
        assert w["performance"]["accuracy"] == pytest.approx(env.sent.correct[side].mean())
        assert {"precision", "recall", "f1"} <= set(w["performance"])


def test_compare_a_segment_and_a_bounded_sample(env: Env) -> None:
    r = _compare(env, segment="region:south")
    assert r.status_code == 200, r.text
    body = r.json()
    south = {s: [i for i, g in enumerate(env.sent.region[s]) if g == "south"] for s in "ab"}
    assert body["segment"] == {"region": "south"}
    assert (body["a"]["events"], body["b"]["events"]) == (len(south["a"]), len(south["b"]))
    x = next(c for c in body["columns"] if c["column"] == "x")
    ks = stats.ks_2samp(env.sent.x["a"][south["a"]], env.sent.x["b"][south["b"]], method="asymp")
    assert x["value"] == pytest.approx(ks.statistic, abs=1e-12)

    r = _compare(env, max_rows=100)
    body = r.json()
    assert body["b"]["sampled"] and body["b"]["rows"] == 100 and body["b"]["events"] == 400
    assert any("sample of 100" in n for n in body["notes"])
    x = next(c for c in body["columns"] if c["column"] == "x")
    assert x["b"]["n"] == 100
    assert _compare(env, max_rows=100).json() == body  # the same sample every time


def test_compare_refuses_bad_windows(env: Env) -> None:
    r = _compare(env, a_end=A0.isoformat())
    assert r.status_code == 422
    assert "'a_end'" in r.json()["error"]["message"]
    r = _compare(env, segment="nope:x")
    assert r.status_code == 422 and "nope" in r.json()["error"]["message"]
    r = env.http.get(f"/v1/models/{MODEL}/compare", headers=_h(env.keys["read"]))
    assert r.status_code == 422
    other = env.http.get(
        f"/v1/models/{MODEL}/compare",
        params={"a_start": "2026-01-05", "a_end": "2026-01-06", "b_start": "2026-01-06",
                "b_end": "2026-01-07"},
        headers=_h(env.keys["other"]),
    )  # fmt: skip
    assert other.status_code == 404  # another project's model is not there


def test_a_window_becomes_the_reference(env: Env) -> None:
    http, admin = env.http, env.keys["admin"]
    window_b = {"start": B0.isoformat(), "end": (B0 + timedelta(hours=2)).isoformat()}

    def x_drift() -> str:
        r = http.post(f"/v1/models/{MODEL}/evaluate", json=window_b, headers=_h(admin))
        assert r.status_code == 200, r.text
        rows = http.get(
            f"/v1/models/{MODEL}/results",
            params={"monitor": "feature_drift:x", "start": window_b["start"]},
            headers=_h(admin),
        ).json()
        assert rows
        return str(max((r["status"] for r in rows), key=["ok", "warn", "alert"].index))

    assert x_drift() == "alert"  # B moved away from the uploaded reference
    before = http.get(f"/v1/models/{MODEL}/references", headers=_h(admin)).json()

    r = http.post(
        f"/v1/models/{MODEL}/reference/from-window", json=window_b, headers=_h(env.keys["read"])
    )
    assert r.status_code == 403
    r = http.post(f"/v1/models/{MODEL}/reference/from-window", json=window_b, headers=_h(admin))
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["events"], made["rows"], made["labelled"]) == (400, 400, 400)
    assert not made["sampled"] and made["monitors"] > 0
    ref = made["reference"]
    assert ref["rows"] == 400
    assert {"x", "c", "region", "prediction", "outcome"} <= set(ref["columns"])
    after = http.get(f"/v1/models/{MODEL}/references", headers=_h(admin)).json()
    assert [x["id"] for x in after] == [x["id"] for x in before] + [ref["id"]]

    assert x_drift() == "ok"  # the monitors were fitted on window B itself

    audit = http.get(
        "/v1/security/audit", params={"action": "reference.from_window"}, headers=_h(admin)
    ).json()
    entry = audit[0]
    assert entry["target"] == MODEL and entry["after"]["reference"] == ref["id"]

    # a larger window than max_rows: a sample, said so
    r = http.post(
        f"/v1/models/{MODEL}/reference/from-window",
        json={**window_b, "max_rows": 150, "segment": {"region": "north"}, "name": "north B"},
        headers=_h(admin),
    )
    assert r.status_code == 201, r.text
    made = r.json()
    north = sum(g == "north" for g in env.sent.region["b"])
    assert (made["events"], made["rows"], made["sampled"]) == (north, 150, True)
    assert made["reference"]["name"] == "north B"
    assert any("sample of 150" in n for n in made["notes"])


def test_empty_or_small_windows_are_refused(env: Env) -> None:
    admin = _h(env.keys["admin"])
    url = f"/v1/models/{MODEL}/reference/from-window"
    n_refs = len(env.http.get(f"/v1/models/{MODEL}/references", headers=admin).json())
    r = env.http.post(url, json={"start": "2025-01-01", "end": "2025-01-02"}, headers=admin)
    assert r.status_code == 422
    assert "holds 0 event(s)" in r.json()["error"]["message"]
    small = {"start": A0.isoformat(), "end": (A0 + timedelta(minutes=30)).isoformat()}
    r = env.http.post(url, json=small, headers=admin)
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "holds 50 event(s)" in msg and "at least 100" in msg
    r = env.http.post(url, json={"start": "2026-01-02", "end": "2026-01-01"}, headers=admin)
    assert r.status_code == 422
    assert len(env.http.get(f"/v1/models/{MODEL}/references", headers=admin).json()) == n_refs


def test_cli_makes_a_window_the_reference(env: Env) -> None:
    admin = env.keys["admin"]
    args = ["models", "reference-from-window", MODEL, "--start", A0.isoformat(),
            "--end", (A0 + timedelta(hours=3)).isoformat(), "--segment", "region=north",
            "--url", str(env.http.base_url), "--api-key", admin]  # fmt: skip
    n_refs = len(env.http.get(f"/v1/models/{MODEL}/references", headers=_h(admin)).json())
    r = _cli(*args)  # no terminal to confirm on: refused
    assert r.returncode != 0 and "confirm with --yes" in r.stderr
    r = _cli(*args, "--yes")
    assert r.returncode == 0, r.stderr
    north = sum(g == "north" for g in env.sent.region["a"])
    refs = env.http.get(f"/v1/models/{MODEL}/references", headers=_h(admin)).json()
    assert len(refs) == n_refs + 1 and refs[-1]["rows"] == north
    assert f"Reference {refs[-1]['id']} of '{MODEL}': {north:,} rows" in r.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_search_is_case_insensitive_bounded_and_project_scoped(env: Env) -> None:
    http = env.http
    spec = {"name": "secret-q", "task": "binary", "features": [{"name": "x_only_q",
            "kind": "numeric"}]}  # fmt: skip
    assert http.post("/v1/models", json=spec, headers=_h(env.keys["other"])).status_code == 201
    spec = {"name": "twin", "task": "regression", "features": [{"name": "xx", "kind": "numeric"}]}
    assert http.post("/v1/models", json=spec, headers=_h(env.keys["admin"])).status_code == 201

    r = http.get("/v1/search", params={"q": "WIN"}, headers=_h(env.keys["read"]))
    assert r.status_code == 200, r.text
    assert [m["model"] for m in r.json()["models"]] == [MODEL, "twin"]  # exact match first
    r = http.get("/v1/search", params={"q": "REGION"}, headers=_h(env.keys["read"]))
    assert r.json()["features"] == [{"model": MODEL, "column": "region", "kind": "categorical"}]
    r = http.get("/v1/search", params={"q": "x"}, headers=_h(env.keys["read"]))
    body = r.json()
    assert {"model": MODEL, "column": "x", "kind": "numeric"} in body["features"]
    assert {f["model"] for f in body["features"]} == {MODEL, "twin"}  # not project q's x_only_q
    r = http.get("/v1/search", params={"q": "secret"}, headers=_h(env.keys["read"]))
    assert r.json()["models"] == []
    r = http.get("/v1/search", params={"q": "secret"}, headers=_h(env.keys["other"]))
    assert [m["model"] for m in r.json()["models"]] == ["secret-q"]
    r = http.get("/v1/search", params={"q": "x", "limit": 1}, headers=_h(env.keys["read"]))
    assert len(r.json()["features"]) == 1 and r.json()["truncated"] == ["features"]
    assert http.get("/v1/search", params={"q": ""}, headers=_h(env.keys["read"])).status_code == 422
    # incidents: by a word of the title, by id; never another project's
    incidents = http.get("/v1/incidents", headers=_h(env.keys["read"])).json()["items"]
    assert incidents, "the evaluation of the drifted window opened an incident"
    inc = incidents[0]
    word = max(inc["title"].split(), key=len)
    r = http.get("/v1/search", params={"q": word.upper()}, headers=_h(env.keys["read"]))
    assert inc["id"] in [i["id"] for i in r.json()["incidents"]]
    r = http.get("/v1/search", params={"q": f"#{inc['id']}"}, headers=_h(env.keys["read"]))
    assert r.json()["incidents"][0]["id"] == inc["id"]
    r = http.get("/v1/search", params={"q": f"#{inc['id']}"}, headers=_h(env.keys["other"]))
    assert r.json()["incidents"] == []
    r = http.get("/v1/search", params={"q": "   "}, headers=_h(env.keys["read"]))
    assert r.status_code == 422 and "'q'" in r.json()["error"]["message"]
