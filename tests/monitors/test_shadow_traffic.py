"""A challenger in shadow is not traffic: through the SDK and the real server, a model whose
1,000 requests a day are logged with ``shadow={"v2": ...}`` gets the same volume, prediction
drift and performance results as the same requests logged without shadow, while the champion
comparison still sees both versions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

import mlwarden
from mlwarden.sdk.http import ipc_bytes
from serverproc import ServerProcess

ARROW = "application/vnd.apache.arrow.stream"
DAYS, PER_DAY = 2, 1000
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
MONITORED = ["volume", "prediction_drift:score", "performance:accuracy"]


def _spec(name: str) -> dict[str, Any]:
    return {
        "name": name, "task": "binary", "classes": ["0", "1"], "score": "score",
        "prediction": "prediction", "target": "target", "segments": ["region"],
        "features": [{"name": "x", "kind": "numeric"}, {"name": "region", "kind": "categorical"}],
    }  # fmt: skip


def _monitors(name: str) -> str:
    return (
        f"model: {name}\ncadence: 1d\nmonitors:\n- kind: volume\n"
        "- kind: prediction_drift\n  column: score\n- kind: performance\n  metric: accuracy\n"
    )


def _data(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    la = 1.2 * (2 * y - 1) + rng.normal(size=n)
    # the challenger scores higher and differently: mixed in, it would move drift and accuracy
    lb = 0.3 * (2 * y - 1) + 1.5 + rng.normal(size=n)
    return {
        "x": rng.normal(size=n), "y": y,
        "region": np.array(["north", "south"])[rng.integers(0, 2, n)],
        "sa": 1 / (1 + np.exp(-la)), "sb": 1 / (1 + np.exp(-lb)),
    }  # fmt: skip


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("shadow") / "data", "--evaluate-every", "0")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _log(
    srv: ServerProcess, spool: Path, name: str, d: dict[str, np.ndarray], *, shadow: bool
) -> None:
    with mlwarden.init(model=name, version="v1", url=srv.url, spool_dir=spool) as m:
        for i in range(DAYS * PER_DAY):
            ts = START + timedelta(seconds=60 + i * 86_000 // PER_DAY + (i // PER_DAY) * 400)
            sa, sb = float(d["sa"][i]), float(d["sb"][i])
            extra = {"shadow": {"v2": (int(sb >= 0.5), sb)}} if shadow else {}
            m.log({"x": float(d["x"][i]), "region": str(d["region"][i])}, int(sa >= 0.5),
                  score=sa, event_id=f"r{i}", timestamp=ts, **extra)  # fmt: skip
            m.log_actual(f"r{i}", int(d["y"][i]))
        assert m.flush(120)


@pytest.fixture(scope="module")
def results(
    srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, dict[str, dict[tuple[str, str], dict[str, Any]]]]]:
    d = _data(DAYS * PER_DAY, seed=3)
    ref = _data(2000, seed=4)
    reference = pa.table({
        "x": ref["x"], "region": ref["region"], "score": ref["sa"],
        "prediction": (ref["sa"] >= 0.5).astype(int).astype(str), "target": ref["y"].astype(str),
    })  # fmt: skip
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    with httpx.Client(base_url=srv.url, timeout=300) as http:
        for name, shadow in (("plain", False), ("shadowed", True)):
            assert http.post("/v1/models", json=_spec(name)).status_code in (200, 201)
            r = http.post(
                f"/v1/models/{name}/reference?version=v1&name=training",
                content=ipc_bytes(reference),
                headers={"content-type": ARROW},
            )
            assert r.status_code in (200, 201), r.text
            _log(srv, tmp_path_factory.mktemp("spool"), name, d, shadow=shadow)
            r = http.put(
                f"/v1/models/{name}/monitors",
                content=_monitors(name),
                headers={"content-type": "application/yaml"},
            )
            assert r.status_code == 200, r.text
            span = {"start": START.isoformat(), "end": (START + timedelta(days=DAYS)).isoformat()}
            r = http.post(f"/v1/models/{name}/evaluate", json=span)
            assert r.status_code == 200 and r.json()["results"] > 0, r.text
            rows = http.get(f"/v1/models/{name}/results", params={"limit": 1000}).json()
            out[name] = {
                (r["monitor"], str(r["window_start"])[:10]): r for r in rows if not r["segment"]
            }
        yield http, out


def test_volume_counts_each_request_once(results: Any) -> None:
    _, out = results
    for name in ("plain", "shadowed"):
        vols = [r["value"] for (mon, _), r in out[name].items() if mon == "volume"]
        assert vols == [PER_DAY] * DAYS, (name, vols)


def test_drift_and_performance_are_those_of_the_same_traffic_without_shadow(
    results: Any,
) -> None:
    _, out = results
    for mon in MONITORED:
        plain = {day: r for (m, day), r in out["plain"].items() if m == mon}
        shadowed = {day: r for (m, day), r in out["shadowed"].items() if m == mon}
        assert len(plain) == DAYS and plain.keys() == shadowed.keys(), (mon, plain, shadowed)
        for day, r in plain.items():
            s = shadowed[day]
            # (volume needs more windows of history to judge: its value is checked)
            assert mon == "volume" or r["status"] not in ("no_data", "insufficient_data"), r
            assert (s["status"], s["value"]) == (r["status"], pytest.approx(r["value"])), (
                mon,
                r,
                s,
            )


def test_the_champion_comparison_still_pairs_both_versions(results: Any) -> None:
    http, _ = results
    r = http.get("/v1/models/shadowed/champion", params={"champion": "v1", "challenger": "v2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "paired" and body["events"] == {"pairs": DAYS * PER_DAY}
