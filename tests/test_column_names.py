"""Column names as users' data frames have them, end to end.

Round 1 accepted only letters, digits, '_', '.', '-' and spaces in a feature's name: ``mlwarden
init`` on a file with a column ``age (years)`` ended in a pydantic traceback, and a prediction
column called ``pred (class)`` was monitored as a feature. Names with parentheses, slashes, '#',
'%', brackets and non-ASCII letters now work through the CLI, the API (the column summary of
``income/month`` too), monitors, incidents and the UI; the few characters that stay out (quotes,
backslash, '=', ':', ',', control characters) are refused with a message, or left out of an
inferred spec with a note.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.schema.infer import infer_spec
from serverproc import http_client

START = datetime(2026, 9, 7, tzinfo=UTC)
DAY = timedelta(days=1)
NUMERIC = ["age (years)", "income/month", "# visits", "share %", "Größe"]
CATEGORICAL = "plan [tier]"


def frame(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cols: dict[str, np.ndarray] = {
        "age (years)": rng.normal(40, 10, n),
        "income/month": rng.lognormal(8, 0.5, n) * (1 + shift),
        "# visits": rng.poisson(3, n).astype(float),
        "share %": rng.uniform(0, 100, n),
        "Größe": rng.normal(170, 8, n),
        CATEGORICAL: rng.choice(["basic", "pro", "team"], n),
        "pred (class)": (x > 0).astype(int),
        "score/prob": 1 / (1 + np.exp(-x)),
        "label (true)": ((x + rng.normal(size=n) * 0.5) > 0).astype(int),
    }
    return cols


def write(path: Path, cols: dict[str, np.ndarray]) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from mlwarden.cli.main import main; raise SystemExit(main())",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_infer_finds_roles_named_with_punctuation_and_keeps_the_features() -> None:
    inf = infer_spec(pa.table(frame(500, 1)), name="m")
    spec = inf.spec
    assert (spec.prediction, spec.score, spec.target) == (
        "pred (class)",
        "score/prob",
        "label (true)",
    )
    assert sorted(f.name for f in spec.features) == sorted([*NUMERIC, CATEGORICAL])
    assert any("'pred (class)'" in n and n.startswith("Prediction") for n in inf.notes)


def test_infer_leaves_out_a_name_it_cannot_store_and_says_why() -> None:
    cols = frame(300, 2)
    cols["a=b"] = np.arange(300, dtype=float)
    inf = infer_spec(pa.table(cols), name="m")
    assert "a=b" not in {f.name for f in inf.spec.features}
    (note,) = [n for n in inf.notes if "'a=b'" in n]
    assert "rename" in note and "'='" in note


def test_a_credit_score_feature_is_not_taken_for_the_score() -> None:
    rng = np.random.default_rng(3)
    t = pa.table(
        {
            "credit_score": rng.integers(300, 850, 200),
            "prediction": rng.integers(0, 2, 200),
            "target": rng.integers(0, 2, 200),
        }
    )
    spec = infer_spec(t, name="m").spec
    assert spec.score is None and [f.name for f in spec.features] == ["credit_score"]


def test_cli_init_and_check_on_such_names(tmp_path: Path) -> None:
    ref = write(tmp_path / "ref.parquet", frame(2000, 4))
    same = write(tmp_path / "same.parquet", frame(2000, 5))
    moved = write(tmp_path / "moved.parquet", frame(2000, 6, shift=0.5))
    init = cli("init", str(ref), "--dry-run", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "Traceback" not in init.stderr
    assert "feature_drift:income/month" in init.stdout
    ok = cli("check", str(ref), str(same), "--fail-on", "alert", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out = tmp_path / "report.json"
    bad = cli("check", str(ref), str(moved), "--fail-on", "alert", "--json", str(out), cwd=tmp_path)
    assert bad.returncode != 0, bad.stdout
    report = json.loads(out.read_text())
    alerted = {r["monitor"] for r in report["results"] if r["status"] == "alert"}
    assert "feature_drift:income/month" in alerted


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with http_client(tmp_path_factory.mktemp("names") / "data", "--evaluate-every", "0") as client:
        yield client


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def events(cols: dict[str, np.ndarray], day: int, tag: str) -> list[dict[str, Any]]:
    n = len(cols["label (true)"])
    feats = [*NUMERIC, CATEGORICAL]
    return [
        {
            "event_id": f"{tag}-{i}",
            "timestamp": (START + day * DAY + (i + 0.5) * DAY / n).isoformat(),
            "features": {f: _py(cols[f][i]) for f in feats},
            "prediction": _py(cols["pred (class)"][i]),
            "score": float(cols["score/prob"][i]),
        }
        for i in range(n)
    ]


def test_server_monitors_names_with_punctuation(http: httpx.Client) -> None:
    spec = infer_spec(pa.table(frame(1500, 7)), name="names").spec
    r = http.post("/v1/models", json=json.loads(spec.model_dump_json()))
    assert r.status_code == 201, r.text
    sink = io.BytesIO()
    pq.write_table(pa.table(frame(1500, 7)), sink)
    r = http.post(
        "/v1/models/names/reference",
        content=sink.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    r = http.post("/v1/models/names/monitors/setup", json={"cadence": "1d"})
    assert r.status_code == 200, r.text
    for day, cols in ((0, frame(800, 8)), (1, frame(800, 9, shift=0.5))):
        r = http.post("/v1/models/names/events", json=events(cols, day, f"d{day}"))
        assert r.status_code == 200 and r.json()["accepted"] == 800, r.text
    body = {"start": START.isoformat(), "end": (START + 2 * DAY).isoformat()}
    assert http.post("/v1/models/names/evaluate", json=body).status_code == 200
    r = http.get("/v1/models/names/results", params={"limit": 10_000, "status": "alert"})
    assert r.status_code == 200, r.text
    alerted = {(x["monitor"], x["window_start"][:10]) for x in r.json()}
    assert ("feature_drift:income/month", (START + DAY).date().isoformat()) in alerted
    assert not {m for m, d in alerted if d == START.date().isoformat()}, alerted

    r = http.get(f"/v1/models/names/columns/{quote('income/month', safe='')}")
    assert r.status_code == 200, r.text
    assert r.json()["column"] == "income/month"
    r = http.get(f"/v1/models/names/columns/{quote(CATEGORICAL, safe='')}")
    assert r.status_code == 200, r.text
    assert {c["value"] for c in r.json()["top"]} == {"basic", "pro", "team"}
    assert http.get("/v1/models/names/columns/nope").status_code == 404

    page = http.get("/ui/models/names", params={"tab": "drift"})
    assert page.status_code == 200, page.text
    assert "income/month" in page.text and "Größe" in page.text
    assert "plan [tier]" in page.text
    # the feature page and its API twin take names with '/' (quoted as %2F in links)
    feature = http.get(f"/ui/models/names/features/{quote('income/month', safe='')}")
    assert feature.status_code == 200 and "income/month" in feature.text, feature.text[:500]
    r = http.get(f"/v1/models/names/columns/{quote('income/month', safe='')}/windows",
                 params={"start": START.isoformat(), "end": (START + 2 * DAY).isoformat()})  # fmt: skip
    assert r.status_code == 200, r.text


def test_api_refuses_a_feature_name_it_cannot_keep_with_the_reason(http: httpx.Client) -> None:
    spec = {
        "name": "badname",
        "task": "binary",
        "features": [{"name": "a=b", "kind": "numeric"}],
    }
    r = http.post("/v1/models", json=spec)
    assert r.status_code == 422, r.text
    assert "'a=b'" in r.text and "'='" in r.text
