"""A model version carries the experiment run it came from (an MLflow or W&B run URL) and its
registry aliases: set through the API and the CLI, validated, and linked from the incident and
compare pages. One server for the module."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from integrations.seeded import MODEL, seed
from serverproc import ServerProcess

WANDB = "https://wandb.ai/acme/checkout/runs/1x2y3z4w"
MLFLOW = "http://mlflow.internal:5000/#/experiments/3/runs/9f1c2b"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("links") / "data", "--evaluate-every", "0").start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def http(srv: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def incident(http: httpx.Client) -> dict[str, Any]:
    return seed(http)


def _version(http: httpx.Client, model: str, version: str) -> dict[str, Any]:
    got: dict[str, Any] = next(
        v for v in http.get(f"/v1/models/{model}/versions").json() if v["version"] == version
    )
    return got


def test_a_version_carries_its_run_and_aliases(
    http: httpx.Client, incident: dict[str, Any]
) -> None:
    body = {"version": "v1", "metadata": {"team": "risk"}, "run_url": WANDB,
            "aliases": ["champion", "champion"]}  # fmt: skip
    r = http.post(f"/v1/models/{MODEL}/versions", json=body)
    assert r.status_code == 201, r.text
    v = _version(http, MODEL, "v1")
    assert (v["run_url"], v["aliases"], v["metadata"]) == (WANDB, ["champion"], {"team": "risk"})
    assert v["mlflow"] is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("run_url", "javascript:alert(1)", "'run_url' field must be an http:// or https:// URL"),
        ("run_url", "https://wandb.ai/a b", "'run_url' field must be an http:// or https:// URL"),
        ("run_url", "https:///no-host", "'run_url' field must be an http:// or https:// URL"),
        ("aliases", ["ok", "not ok"], "'aliases' field must hold names"),
        ("metadata", {"mlwarden.run_url": WANDB}, "keys starting with 'mlwarden.'"),
    ],
)
def test_bad_links_are_refused(
    http: httpx.Client, incident: dict[str, Any], field: str, value: Any, words: str
) -> None:
    r = http.post(f"/v1/models/{MODEL}/versions", json={"version": "bad", field: value})
    assert r.status_code == 422, r.text
    assert words in r.text
    assert all(v["version"] != "bad" for v in http.get(f"/v1/models/{MODEL}/versions").json())


def test_the_cli_links_a_registered_version(srv: ServerProcess, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ref = pa.table({"x": rng.normal(size=200), "prediction": rng.integers(0, 2, 200)})
    path = tmp_path / "ref.parquet"
    pq.write_table(ref, path)
    args = ["models", "register", str(path), "--name", "scorer", "--version", "v7",
            "--run-url", MLFLOW, "--no-monitors", "--url", srv.url]  # fmt: skip
    p = subprocess.run([sys.executable, "-m", "mlwarden.cli.main", *args], capture_output=True,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=120, check=False)  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    with httpx.Client(base_url=srv.url) as c:
        v = _version(c, "scorer", "v7")
    assert v["run_url"] == MLFLOW
    bad = subprocess.run([sys.executable, "-m", "mlwarden.cli.main", *args[:5], "--run-url",
                          MLFLOW, "--url", srv.url], capture_output=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)  # fmt: skip
    assert bad.returncode != 0 and b"--version" in bad.stderr


def test_incident_and_compare_pages_link_the_runs(
    http: httpx.Client, incident: dict[str, Any]
) -> None:
    http.post(f"/v1/models/{MODEL}/versions", json={"version": "v1", "run_url": WANDB,
                                                    "aliases": ["champion"]})  # fmt: skip
    http.post(f"/v1/models/{MODEL}/versions", json={"version": "v2", "run_url": MLFLOW})
    # the incident's events are of version 'default' (sent without one): its run, not v1's
    page = http.get(f"/ui/incidents/{incident['id']}").text
    assert 'id="version-runs"' not in page
    http.post(f"/v1/models/{MODEL}/versions", json={"version": "default", "run_url": MLFLOW})
    page = http.get(f"/ui/incidents/{incident['id']}").text
    assert f'version default: <a href="{MLFLOW}" rel="noopener noreferrer">MLflow run</a>' in page
    assert WANDB not in page
    compare = http.get(f"/ui/models/{MODEL}/compare", params={"a": "v1", "b": "v2"}).text
    assert f'<a href="{WANDB}" rel="noopener noreferrer">W&amp;B run</a>' in compare
    assert "v1 (champion)" in compare
    assert f'<a href="{MLFLOW}" rel="noopener noreferrer">MLflow run</a>' in compare


def test_reregistering_keeps_a_reference_upload_working(http: httpx.Client) -> None:
    """A version made by a reference upload (no record of its own) gets one with its link."""
    body = io.BytesIO()
    pq.write_table(pa.table({"x": [0.1, 0.2, 0.3], "prediction": [0, 1, 0]}), body)
    r = http.post(f"/v1/models/{MODEL}/reference", params={"version": "v3"},
                  content=body.getvalue(), headers={"content-type": "application/vnd.apache.parquet"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = http.post(f"/v1/models/{MODEL}/versions", json={"version": "v3", "run_url": MLFLOW})
    assert r.status_code == 201 and r.json()["run_url"] == MLFLOW


def test_the_sdk_links_a_version(
    http: httpx.Client, srv: ServerProcess, incident: dict[str, Any], tmp_path: Path
) -> None:
    import mlwarden

    monitor = mlwarden.init(model=MODEL, version="v9", url=srv.url, spool_dir=tmp_path)
    try:
        assert monitor.link_version(run_url=WANDB, aliases=["challenger"])
        assert not monitor.link_version(run_url="ftp://x/y")  # refused before sending
    finally:
        monitor.close()
    v = _version(http, MODEL, "v9")
    assert (v["run_url"], v["aliases"]) == (WANDB, ["challenger"])
