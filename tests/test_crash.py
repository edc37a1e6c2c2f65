"""SIGKILL the server while clients send: every acknowledged event survives exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa

from mlwarden.store import open_store
from serverproc import ServerProcess
from test_server import ARROW, event_table, ipc, register


def test_acknowledged_events_survive_sigkill_and_resends_do_not_duplicate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerProcess(data).start()
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        register(http)
    batches: list[pa.Table] = [event_table(k * 500, 500, seed=k) for k in range(400)]
    acked: set[int] = set()
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for k in range(worker, len(batches), 4):
                try:
                    r = http.post("/v1/models/churn/events", content=ipc(batches[k]), headers=ARROW)
                except httpx.HTTPError:
                    return  # the server died under us
                if r.status_code == 200:
                    with lock:
                        acked.add(k)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.kill()
    for t in threads:
        t.join()
    assert 20 <= len(acked) < len(batches), "the kill should land mid-stream"

    # after restart every acknowledged event is there, once
    srv = ServerProcess(data, port=srv.port).start()
    srv.stop()
    store = open_store(data)
    m = store.get_model("default", "churn")
    ids = set(store.events(m).event_id.to_pyarrow().to_pylist())
    total = store.events(m).count().to_pyarrow().as_py()
    store.close()
    assert total == len(ids)
    for k in acked:
        assert set(batches[k].column("event_id").to_pylist()) <= ids

    # re-sending everything (acknowledged or not) stores each event once
    srv = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            dup = 0
            for b in batches:
                r = http.post("/v1/models/churn/events", content=ipc(b), headers=ARROW)
                assert r.status_code == 200
                dup += r.json()["duplicates"]
            assert dup == total
            counts = http.get("/v1/models/churn/counts", params={"window": "all"}).json()
            assert sum(c["events"] for c in counts) == 400 * 500
    finally:
        srv.stop()
