"""A server under a stream of hostile requests stays within a memory bound and keeps
answering /v1/health (measured on the server child process with psutil).

On main, one event bringing 2,000 new feature names took 1.5 GB (4,000: over 3 GB): each
name became a column added inside one transaction. The limits of docs/limits.md bound it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow as pa
import pytest

from serverproc import ServerProcess

#: What the stream may add to the server's resident size (whole process tree) at any moment,
#: over what the server held when it started. The started server's own size depends on the
#: machine and on what the release imports (314 MB here, 401 MB on a loaded CI run of the same
#: commit), so the bound is on what the hostile requests add (440 MB here, 680 MB on that run;
#: one event of 2,000 new names once took 1.5 GB), with an absolute ceiling beside it.
GROWTH_BYTES = 768 * 1024 * 1024
CEILING_BYTES = 1536 * 1024 * 1024
ARROW = {"content-type": "application/vnd.apache.arrow.stream"}


def rss(proc: psutil.Process) -> int:
    total = 0
    for p in (proc, *proc.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class PeakRSS:
    """The highest resident size of a process tree, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.proc))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.peak = max(self.peak, rss(self.proc))


def ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def event(i: int, **features: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "prediction": 1.0, "features": {"x": 1.0, **features}}


def hostile(http: httpx.Client) -> Iterator[tuple[str, httpx.Response]]:
    """The stream: each request with what it tries."""
    spec = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
    assert http.post("/v1/models", json=spec).status_code == 201
    yield (
        "2,000 new names",
        http.post("/v1/models/m/events", json=[event(0, **{f"n{i}": 1.0 for i in range(2_000)})]),
    )
    cols = {"prediction": [1.0], **{f"a{i}": [1.0] for i in range(5_000)}}
    yield (
        "5,000 new Arrow columns",
        http.post("/v1/models/m/events", content=ipc(pa.table(cols)), headers=ARROW),
    )
    huge = {**spec, "name": "huge"}
    huge["features"] = [{"name": f"f{i}", "kind": "numeric"} for i in range(20_000)]
    yield "a 20,000-feature spec", http.post("/v1/models", json=huge)
    for k in range(15):  # grow the model 100 names at a time up to the model limit, then on
        names = {f"g{k}_{i}": float(i) for i in range(100)}
        yield f"100 new names #{k}", http.post("/v1/models/m/events", json=[event(k, **names)])
    tiny = [{"prediction": 1.0}] * 200_000  # 200k rows x ~900 columns: 180M cells
    yield "200k tiny rows for a wide model", http.post("/v1/models/m/events", json=tiny)
    empty = b"[" + b",".join([b"{}"] * 300_000) + b"]"  # 300k rejected rows in 900 KB
    yield (
        "300k empty rows",
        http.post(
            "/v1/models/m/events", content=empty, headers={"content-type": "application/json"}
        ),
    )
    nulls = pa.table({"x": pa.nulls(3_000_000)})  # a few hundred bytes on the wire
    yield "3M rows of nulls", http.post("/v1/models/m/events", content=ipc(nulls), headers=ARROW)
    far = [event(1), {**event(2), "timestamp": "9999-12-31T23:59:59Z"}]
    yield "a year-9999 row", http.post("/v1/models/m/events", json=far)


@pytest.mark.timeout(600)
def test_hostile_stream_stays_under_the_ceiling(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", "--evaluate-every", "0").start()
    assert srv.proc is not None
    try:
        with PeakRSS(srv.proc.pid) as peak, httpx.Client(base_url=srv.url, timeout=300) as http:
            start = rss(psutil.Process(srv.proc.pid))
            codes: dict[str, int] = {}
            for what, r in hostile(http):
                codes[what] = r.status_code
                assert r.status_code < 500, (what, r.text[:500])
                if r.status_code >= 400:
                    assert set(r.json()) == {"error"}, (what, r.text[:500])
                assert http.get("/v1/health", timeout=30).status_code == 200, what
                assert peak.peak - start < GROWTH_BYTES, (what, peak.peak, start)
                assert peak.peak < CEILING_BYTES, (what, peak.peak, start)
        models = httpx.get(f"{srv.url}/v1/models/m", timeout=30).json()
    finally:
        srv.stop()
    assert codes["2,000 new names"] == 422
    assert codes["5,000 new Arrow columns"] == 422
    assert codes["a 20,000-feature spec"] == 422
    assert codes["200k tiny rows for a wide model"] == 422
    assert codes["3M rows of nulls"] == 422
    assert codes["300k empty rows"] == 422
    assert codes["a year-9999 row"] == 207
    grown = [codes[f"100 new names #{k}"] for k in range(15)]
    assert grown == [200] * 9 + [422] * 6, grown  # 1 + 9 x 100 columns; a 10th would pass 1000
    assert len(models["spec"]["features"]) == 901
    print(f"peak RSS {peak.peak / 2**20:.0f} MiB, at start {start / 2**20:.0f} MiB")
    assert peak.peak < CEILING_BYTES, (peak.peak, start)
