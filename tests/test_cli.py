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
