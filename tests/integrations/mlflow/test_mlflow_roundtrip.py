"""The MLflow round trip against a real tracking server (``mlflow server``, SQLite backend, the
artifact proxy on a temporary folder) from the pinned MLflow venv (``make mlflow``):

* MLflow's own client logs a model (signature, its training set as a dataset input) and
  registers it with an alias; ``mlwarden models register --from-mlflow models:/churn@champion``
  makes the spec, version, aliases, run link and reference from it;
* events and an incident on the mlwarden server (its MLflow job on a 1 s period) come back to
  MLflow: metrics on the monitoring run, one step per window, and the version's tag
  ``mlwarden.status`` = ``alert`` with the incident's URL, back to ``ok`` once it is resolved,
  all read through MLflow's own client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serverproc import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
DRIVERS = Path(__file__).resolve().parent / "drivers"
#: Where ``make mlflow`` installs MLflow (tests/integrations/mlflow/requirements.txt).
VENV = Path(os.environ.get("MLWARDEN_MLFLOW_VENV") or ROOT / ".venv-mlflow")
PYTHON = VENV / "bin" / "python"
BUILD_WAIT_S = 1800
NAME, ALIAS = "churn", "champion"
#: MLflow stays on loopback: no telemetry, no job runner.
ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "PYTHONWARNINGS": "ignore",
}


def _wait_for_build() -> None:
    """``make test`` builds the venv in the background (``make mlflow-bg``)."""
    building, failed = VENV / ".building", VENV / ".failed"
    deadline = time.monotonic() + BUILD_WAIT_S
    while building.exists() and time.monotonic() < deadline:
        time.sleep(2)
    if failed.exists():
        log = VENV / "build.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pytest.fail(f"building {VENV} failed (make mlflow):\n{tail}")
    assert not building.exists(), f"{VENV} still building after {BUILD_WAIT_S} s"
    if not (VENV / ".installed").exists():
        pytest.fail(f"no MLflow venv at {VENV}: run `make mlflow` (make test builds it)")


def _env() -> dict[str, str]:
    env = {**os.environ, **ENV}
    env.pop("PYTHONPATH", None)  # the drivers see the MLflow venv only
    return env


def _driver(script: str, *args: str) -> dict[str, Any]:
    p = subprocess.run(
        [str(PYTHON), str(DRIVERS / script), *args],
        env=_env(),
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    out: dict[str, Any] = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return out


def _until(what: str, check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _wait_for_build()
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    cmd = [str(VENV / "bin" / "mlflow"), "server",
           "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    # a session of its own: the server's workers and helpers stop with it (its process group)
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=root, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _until("the MLflow server", up, timeout=600)
        yield url
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left of it after 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


@pytest.fixture(scope="module")
def logged(mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A model logged and registered by MLflow's own client, aliased champion."""
    work = tmp_path_factory.mktemp("training")
    return _driver("log_model.py", mlflow_url, str(work), NAME, ALIAS)


@pytest.fixture(scope="module")
def mw(mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("mlwarden") / "data",
        "--mlflow-tracking-uri", mlflow_url, "--mlflow-sync-every", "1",
        "--evaluate-every", "0",
    ).start()  # fmt: skip
    try:
        yield srv
    finally:
        srv.stop()


def _cli(*args: str, env: dict[str, str]) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return p.stdout.decode()


@pytest.fixture(scope="module")
def registered(mw: ServerProcess, mlflow_url: str, logged: dict[str, Any]) -> str:
    return _cli(
        "models", "register", "--from-mlflow", f"models:/{NAME}@{ALIAS}", "--url", mw.url,
        env={"MLFLOW_TRACKING_URI": mlflow_url},
    )  # fmt: skip


def test_register_from_the_registry(
    registered: str, mw: ServerProcess, logged: dict[str, Any], mlflow_url: str
) -> None:
    assert f"version '{logged['version']}'" in registered
    spec = httpx.get(f"{mw.url}/v1/models/{NAME}").json()["spec"]
    # the signature's inputs with their types; the target from the dataset input
    assert [(f["name"], f["kind"]) for f in spec["features"]] == [
        ("age", "numeric"),
        ("tenure", "numeric"),
        ("plan", "categorical"),
    ]
    assert (spec["task"], spec["target"], spec["classes"]) == ("binary", "churned", ["0", "1"])
    (v,) = httpx.get(f"{mw.url}/v1/models/{NAME}/versions").json()
    assert v["version"] == logged["version"] and v["aliases"] == [ALIAS]
    assert v["mlflow"]["name"] == NAME and v["mlflow"]["run_id"] == logged["run_id"]
    assert v["run_url"] == (
        f"{mlflow_url}/#/experiments/{logged['experiment_id']}/runs/{logged['run_id']}"
    )
    (ref,) = httpx.get(f"{mw.url}/v1/models/{NAME}/references").json()
    assert ref["version"] == logged["version"] and ref["rows"] == logged["rows"]
    assert {"age", "tenure", "plan", "churned"} <= set(ref["columns"])


def _rest(url: str, path: str, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/api/2.0/mlflow/{path}", params=params, timeout=10)
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


def _version_tags(url: str, version: str) -> dict[str, str]:
    mv = _rest(url, "model-versions/get", name=NAME, version=version)["model_version"]
    return {t["key"]: t["value"] for t in mv.get("tags", [])}


def test_results_and_incidents_flow_back(
    registered: str, mw: ServerProcess, mlflow_url: str, logged: dict[str, Any]
) -> None:
    version = logged["version"]
    with httpx.Client(base_url=mw.url, timeout=60) as http:
        _flow_back(http, mlflow_url, version)


def _flow_back(http: httpx.Client, mlflow_url: str, version: str) -> None:
    spec = f"model: {NAME}\ncadence: 1d\nmonitors:\n  - kind: error_rate\n"
    r = http.put(
        f"/v1/models/{NAME}/monitors", content=spec, headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    days = (("2026-03-01", False), ("2026-03-02", True))  # the second day: half fail
    rows = [
        {
            "event_id": f"{day}-{i}",
            "timestamp": f"{day}T{i % 24:02d}:{i % 60:02d}:00Z",
            "version": version,
            "prediction": i % 2,
            "features": {"age": 40.0 + i % 9, "tenure": 5 + i % 30, "plan": "basic"},
            "status": "error" if failing and i % 2 else "ok",
        }
        for day, failing in days
        for i in range(200)
    ]
    assert http.post(f"/v1/models/{NAME}/events", json=rows).json()["accepted"] == 400
    span = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    assert http.post(f"/v1/models/{NAME}/evaluate", json=span).status_code == 200
    (incident,) = http.get("/v1/incidents", params={"model": NAME}).json()["items"]

    # the job sets the status, then the incident's URL: wait for both (not read in between)
    _until(
        "the alert and incident tags",
        lambda: (
            (t := _version_tags(mlflow_url, version)).get("mlwarden.status") == "alert"
            and t.get("mlwarden.incident", "").endswith(f"/ui/incidents/{incident['id']}")
        ),
    )
    seen = _driver("read_back.py", mlflow_url, NAME, version)  # MLflow's own client
    tags = seen["version_tags"]
    assert tags["mlwarden.status"] == "alert"
    assert tags["mlwarden.incident"].endswith(f"/ui/incidents/{incident['id']}")
    run = seen["run"]
    assert run["experiment"] == "mlwarden-monitoring"
    assert run["tags"]["mlwarden.model_version"] == f"{NAME}/{version}"
    # one step per window: the first day clean, the second half failed
    rate = sorted(run["history"]["error_rate"])
    assert [(s, v) for s, v, _ in rate] == [(0, 0.0), (1, 0.5)]
    assert [v for _, v, _ in sorted(run["history"]["error_rate.status"])] == [0.0, 2.0]
    assert [v for _, v, _ in sorted(run["history"]["mlwarden.alerts"])] == [0.0, 1.0]
    assert rate[1][2] == 1772496000000  # the window's end, 2026-03-03T00:00Z, in ms

    r = http.post(f"/v1/incidents/{incident['id']}/resolve", json={})
    assert r.status_code == 200, r.text
    _until(
        "the ok tag and the incident's cleared",
        lambda: (
            (t := _version_tags(mlflow_url, version)).get("mlwarden.status") == "ok"
            and t.get("mlwarden.incident") == ""
        ),
    )
    back = _driver("read_back.py", mlflow_url, NAME, version)
    assert back["version_tags"]["mlwarden.status"] == "ok"
    assert back["version_tags"]["mlwarden.incident"] == ""
    # nothing evaluated since: no window logged twice
    assert len(back["run"]["history"]["error_rate"]) == 2


def test_register_a_runs_model(mw: ServerProcess, mlflow_url: str, logged: dict[str, Any]) -> None:
    """A run's model (no registry version): named with --name, its version from the run."""
    out = _cli(
        "models", "register", "--from-mlflow", f"runs:/{logged['run_id']}/model",
        "--name", "churn-run", "--tracking-uri", mlflow_url, "--url", mw.url, "--no-monitors",
        env={},
    )  # fmt: skip
    assert "churn-run" in out
    (v,) = httpx.get(f"{mw.url}/v1/models/churn-run/versions").json()
    assert v["version"] == f"run-{logged['run_id'][:12]}"
    assert v["mlflow"] is None and v["aliases"] == []
    assert logged["run_id"] in v["run_url"]
    spec = httpx.get(f"{mw.url}/v1/models/churn-run").json()["spec"]
    assert [f["name"] for f in spec["features"]] == ["age", "tenure", "plan"]


def test_an_alias_that_moved(
    registered: str, mw: ServerProcess, mlflow_url: str, tmp_path: Path
) -> None:
    """A second version takes the alias in MLflow: registered again by alias, mlwarden moves
    it too, and the MLflow job reports to the version that now serves."""
    second = _driver("log_model.py", mlflow_url, str(tmp_path), NAME, ALIAS)
    _cli(
        "models", "register", "--from-mlflow", f"models:/{NAME}@{ALIAS}", "--url", mw.url,
        "--tracking-uri", mlflow_url, env={},
    )  # fmt: skip
    versions = {v["version"]: v for v in httpx.get(f"{mw.url}/v1/models/{NAME}/versions").json()}
    first = next(v for v in versions if v != second["version"])
    assert versions[second["version"]]["aliases"] == [ALIAS]
    assert versions[first]["aliases"] == []
    # the job names the run first and sets the status after it: wait for both
    tags = _until(
        "the new version's monitoring run and status",
        lambda: (
            (t := _version_tags(mlflow_url, second["version"])).get("mlwarden.monitoring_run")
            and "mlwarden.status" in t
            and t
        ),
    )
    assert tags["mlwarden.status"] == "ok"
