"""The command line: one clear line on error, keys, models over HTTP, the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import mlwarden
from serverproc import ServerProcess, free_port


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_version_and_one_line_errors(tmp_path: Path) -> None:
    assert cli("version").stdout.strip() == f"mlwarden {mlwarden.__version__}"
    r = cli("models", "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 2 and "Cannot reach the mlwarden server" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3
    r = cli("serve", "--port", "99999", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "'port'" in r.stderr
    r = cli("keys", "revoke", "nope", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "no API key" in r.stderr


def test_register_list_inspect_over_http(tmp_path: Path, server: ServerProcess) -> None:
    rng = np.random.default_rng(1)
    ref = pa.table(
        {
            "x": rng.normal(size=500),
            "city": rng.choice(["a", "b"], 500),
            "prediction": rng.integers(0, 2, 500),
            "target": rng.integers(0, 2, 500),
        }
    )
    path = tmp_path / "ref.parquet"
    pq.write_table(ref, path)
    r = cli(
        "models", "register", str(path), "--name", "fraud", "--segment", "city", "--url", server.url
    )
    assert r.returncode == 0, r.stderr
    assert "500 rows" in r.stdout
    assert "fraud" in cli("models", "list", "--url", server.url).stdout
    r = cli("models", "inspect", "fraud", "--url", server.url)
    assert r.returncode == 0 and "binary" in r.stdout and "city" in r.stdout
    r = cli("models", "inspect", "ghost", "--url", server.url)
    assert r.returncode == 2 and "ghost" in r.stderr


def test_demo_feeds_the_server_and_shows_the_drift(tmp_path: Path) -> None:
    r = cli(
        "demo",
        "--exit-when-done",
        "--port",
        str(free_port()),
        "--days",
        "14",
        "--events-per-day",
        "400",
        "--drift-day",
        "7",
        "--data-dir",
        str(tmp_path / "demo"),
    )
    assert r.returncode == 0, r.stderr
    assert "Sent 5,600 events" in r.stderr
    assert "days evaluated" in r.stderr  # the backfill shows its progress
    assert "loan-default" in r.stdout and "drift" in r.stdout
    # the data stays in --data-dir and a server opened on it sees the same events
    srv = ServerProcess(tmp_path / "demo").start()
    try:
        import httpx

        counts = httpx.get(
            f"{srv.url}/v1/models/loan-default/counts", params={"window": "all"}
        ).json()
        assert sum(c["events"] for c in counts) == 5600
        # the incidents table is what the server holds: the drift became an incident
        items = httpx.get(f"{srv.url}/v1/incidents", params={"model": "loan-default"}).json()
        assert "Incidents (firing monitors grouped" in r.stdout
        assert any(i["kind"] in ("drift", "performance") for i in items["items"]), items
    finally:
        srv.stop()


def test_help_shows_the_environment_variables() -> None:
    import os

    r = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "models", "register", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "[env MLWARDEN_URL]" in r.stdout and "[env MLWARDEN_API_KEY]" in r.stdout


def _cancer(path: Path) -> Path:
    """Reference data as users have it: features, the model's prediction and score, and the
    label under its own name (not 'target')."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {n: b.data[:, i] for i, n in enumerate(b.feature_names[:8])}
    y = 1 - b.target
    pred = np.where(rng.random(len(y)) < 0.93, y, 1 - y)
    cols.update(
        malignant=y,
        prediction=pred,
        score=np.clip(0.8 * pred + 0.2 * rng.random(len(y)), 0, 1),
        clinic=rng.choice(["north", "south"], len(y)),
    )
    pq.write_table(pa.table(cols), path)
    return path


def test_register_infers_the_target_and_a_changed_spec_needs_update(tmp_path: Path) -> None:
    import time
    from datetime import UTC, datetime

    import httpx

    srv = ServerProcess(tmp_path / "data", "--evaluate-every", "1").start()
    try:
        ref = _cancer(tmp_path / "train.parquet")
        args = ("models", "register", str(ref), "--name", "cancer", "--url", srv.url)
        r = cli(*args, "--segment", "clinic")
        assert r.returncode == 0, r.stderr
        assert "Target: column 'malignant'" in r.stderr and "Prediction:" in r.stderr
        assert "Set up" in r.stdout and "monitors" in r.stdout
        spec = httpx.get(f"{srv.url}/v1/models/cancer").json()["spec"]
        assert spec["target"] == "malignant" and "malignant" not in {
            f["name"] for f in spec["features"]
        }
        # the same command again changes nothing and says so
        r = cli(*args, "--segment", "clinic")
        assert r.returncode == 0 and "registered already" in r.stdout, r.stderr
        # another spec is refused, nothing stored, and the message says how to apply it
        refs = len(httpx.get(f"{srv.url}/v1/models/cancer/references").json())
        r = cli(*args, "--segment", "clinic", "--sensitive", "clinic")
        assert r.returncode == 2 and "--update" in r.stderr and "sensitive" in r.stderr
        assert len(httpx.get(f"{srv.url}/v1/models/cancer/references").json()) == refs
        r = cli(*args, "--segment", "clinic", "--sensitive", "clinic", "--update")
        assert r.returncode == 0 and "sensitive: none -> 'clinic'" in r.stderr, r.stderr
        spec = httpx.get(f"{srv.url}/v1/models/cancer").json()["spec"]
        assert spec["sensitive"] == ["clinic"]

        # the first events are judged within a scheduler period, as a partial window
        now = datetime.now(UTC).isoformat()
        rows = [
            {"event_id": f"e{i}", "timestamp": now, "prediction": i % 2, "score": 0.9 * (i % 2),
             "features": {"mean radius": 14.0 + (i % 5), "clinic": "north"}}
            for i in range(200)
        ]  # fmt: skip
        assert httpx.post(f"{srv.url}/v1/models/cancer/events", json=rows).is_success
        deadline = time.monotonic() + 120
        results: list[dict[str, object]] = []
        while time.monotonic() < deadline and not results:
            results = httpx.get(f"{srv.url}/v1/models/cancer/results").json()
            time.sleep(0.5)
        assert results and all(r["details"].get("partial") for r in results)  # type: ignore[union-attr]
        r = cli("monitors", "show", "cancer", "--url", srv.url)
        assert r.returncode == 0 and "(partial)" in r.stdout, r.stderr

        # a column the model lacks is a 404; a categorical one has its top values
        assert httpx.get(f"{srv.url}/v1/models/cancer/columns/nope").status_code == 404
        top = httpx.get(f"{srv.url}/v1/models/cancer/columns/clinic").json()["top"]
        assert top == [{"value": "north", "n": 200}]
    finally:
        srv.stop()
