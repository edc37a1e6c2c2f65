"""A small seeded model on the real server: one error-rate monitor that alerts on one day of
events (half of them failed), which opens one incident (kind ``errors``, severity high)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODEL = "checkout"
DAY = "2026-03-01"
EVENTS = 200
ERRORS = EVENTS // 2


def seed(http: httpx.Client) -> dict[str, Any]:
    """Register, monitor, ingest and evaluate; the opened incident."""
    rng = np.random.default_rng(0)
    ref = pa.table({"x": rng.normal(size=300), "prediction": rng.integers(0, 2, 300)})
    body = io.BytesIO()
    pq.write_table(ref, body)
    r = http.post(
        f"/v1/models/{MODEL}/reference",
        params={"create": "true"},
        content=body.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    spec = f"model: {MODEL}\ncadence: 1d\nmonitors:\n  - kind: error_rate\n"
    r = http.put(
        f"/v1/models/{MODEL}/monitors", content=spec, headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": f"{DAY}T{i % 24:02d}:{i % 60:02d}:00Z",
            "prediction": 1,
            "features": {"x": 0.1},
            "status": "error" if i % 2 else "ok",
        }
        for i in range(EVENTS)
    ]
    r = http.post(f"/v1/models/{MODEL}/events", json=rows)
    assert r.status_code == 200 and r.json()["accepted"] == EVENTS, r.text
    span = {"start": f"{DAY}T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    r = http.post(f"/v1/models/{MODEL}/evaluate", json=span)
    assert r.status_code == 200, r.text
    items = http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
    assert len(items) == 1, items
    incident: dict[str, Any] = items[0]
    return incident
