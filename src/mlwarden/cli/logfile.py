"""``mlwarden models log``: a file of scored rows becomes events (and labels) of a model.

The file is laid out like the reference the model was registered from: its columns are
mapped by the model's spec (prediction, score, timestamp, features, segments), the label
column, if present, is sent as actuals joined by event ids made here, and anything else is
left out (it would otherwise become a new feature). Rows go as Arrow IPC, in batches.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.cli.client import ApiClient

__all__ = ["BATCH_ROWS", "log_file"]

ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
#: Rows per request (well under the server's default body and cell limits).
BATCH_ROWS = 50_000


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _events_and_labels(spec: dict[str, Any], data: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    cols = data.column_names
    ids = pa.array([uuid.uuid4().hex for _ in range(data.num_rows)], pa.string())
    out: dict[str, Any] = {"event_id": ids}
    roles = {"prediction": spec.get("prediction"), "score": spec.get("score")}
    roles["timestamp"] = spec.get("timestamp")
    for field, col in roles.items():
        if col and col in cols:
            out[field] = data.column(col)
    keep = [f["name"] for f in spec.get("features", [])]
    keep += [*spec.get("segments", []), *spec.get("sensitive", [])]
    for name in dict.fromkeys(keep):
        if name in cols and name not in out:
            out[name] = data.column(name)
    events = pa.table(out)
    target = spec.get("target")
    labels = None
    if target and target in cols:
        labels = pa.table({"event_id": ids, "actual": data.column(target)}).filter(
            pc.is_valid(data.column(target))
        )
    return events, labels


def log_file(
    client: ApiClient, model: str, data: pa.Table, *, version: str | None = None
) -> tuple[int, int]:
    """Send ``data`` as events (and its labels as actuals); (events accepted, labels sent)."""
    spec = client.request("GET", f"/v1/models/{model}")["spec"]
    params = {"version": version} if version else {}
    accepted = labelled = 0
    for start in range(0, data.num_rows, BATCH_ROWS):
        part = data.slice(start, BATCH_ROWS)
        events, labels = _events_and_labels(spec, part)
        r = client.request(
            "POST",
            f"/v1/models/{model}/events",
            params=params,
            content=_ipc(events),
            headers=ARROW,
        )
        accepted += int(r.get("accepted", 0))
        if labels is not None and labels.num_rows:
            client.request(
                "POST", f"/v1/models/{model}/actuals", content=_ipc(labels), headers=ARROW
            )
            labelled += labels.num_rows
    return accepted, labelled


def read_file(path: Path) -> pa.Table:
    """A Parquet, CSV or Arrow file as a table (one clear error otherwise)."""
    from mlwarden.tables import to_arrow

    return to_arrow(path, role="events")
