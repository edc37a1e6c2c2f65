"""The example apps, run for real against a real mlwarden server (both as subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from serverproc import ServerProcess

from .conftest import (
    EXAMPLES,
    AppProcess,
    event_count,
    gunicorn_app,
    predict,
    sdk_env,
    stored_ids,
    uvicorn_app,
    wait_for,
)


def counts(url: str, model: str, **params: str) -> list[dict[str, float]]:
    r = httpx.get(f"{url}/v1/models/{model}/counts", params={"window": "all", **params})
    assert r.status_code == 200, r.text
    out: list[dict[str, float]] = r.json()
    return out


def test_fastapi_app_logs_predictions_requests_and_labels_and_flushes_on_exit(
    server: ServerProcess, tmp_path: Path, apps: list[AppProcess]
) -> None:
    # batches are only sent at exit here (interval and size never reached): SIGTERM must flush
    env = sdk_env(server.url, tmp_path / "spool", MLWARDEN_FLUSH_INTERVAL="600")
    app = uvicorn_app("fastapi_app", env, tmp_path / "app.log")
    apps.append(app.start())
    with httpx.Client(timeout=10) as client:
        ids = predict(app, 120, client)
        for event_id in ids[:40]:
            r = client.post(f"{app.url}/feedback", json={"event_id": event_id, "actual": 1})
            assert r.status_code == 200
        assert client.get(f"{app.url}/no/such/route").status_code == 404
    assert event_count(server.url, "churn") == -1  # nothing sent yet: not even registered
    # uvicorn re-raises SIGTERM after its graceful shutdown; the SDK's handler flushes, then
    # chains to the default action, as it would have happened without the SDK
    assert app.stop() in (0, -15)

    assert event_count(server.url, "churn") == 120
    assert counts(server.url, "churn")[0]["labelled"] == 40
    assert counts(server.url, "churn")[0]["latency_n"] == 120
    predicted = counts(server.url, "churn.requests", segment="route:/predict")[0]
    assert predicted["events"] == 120 and predicted["errors"] == 0
    assert counts(server.url, "churn.requests", segment="route:<unmatched>")[0]["events"] == 1
    spec = httpx.get(f"{server.url}/v1/models/churn").json()["spec"]
    assert {f["name"] for f in spec["features"]} == {"age", "plan"}
    server.stop()
    assert sorted(stored_ids(server.data_dir, "churn")) == sorted(ids)


def test_flask_app_under_prefork_gunicorn(
    server: ServerProcess, tmp_path: Path, apps: list[AppProcess]
) -> None:
    env = sdk_env(server.url, tmp_path / "spool")
    app = gunicorn_app("flask_app", env, tmp_path / "app.log", workers=2)
    apps.append(app.start())
    with httpx.Client(timeout=10) as client:
        ids = predict(app, 150, client)
    # the monitor was made in the master (--preload); each forked worker must run its own
    # delivery threads and draw its own id prefix
    assert len(set(ids)) == len(ids)
    wait_for(lambda: event_count(server.url, "churn") == 150, what="events from the workers")
    assert len({i[:16] for i in ids}) >= 2, "both workers should have answered"
    workers = psutil.Process(app.proc.pid).children()  # type: ignore[union-attr]
    assert app.stop() == 0
    for w in workers:  # the SDK's exit flush must not keep a worker alive
        wait_for(lambda w=w: not w.is_running() or w.status() == "zombie", what="worker exit")
    route = counts(server.url, "churn.requests", segment="route:/predict")[0]
    assert route["events"] == 150
    server.stop()
    assert sorted(stored_ids(server.data_dir, "churn")) == sorted(ids)


def run_batch(env: dict[str, str], n: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "batch_scoring.py"), str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_batch_script_to_a_server(server: ServerProcess, tmp_path: Path) -> None:
    done = run_batch(sdk_env(server.url, tmp_path / "spool"), 3000)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dropped=0" in done.stdout
    (c,) = counts(server.url, "churn-batch")
    assert c["events"] == 3000 and c["labelled"] == 3000 and c["version"] == "2026-03"
    spec = httpx.get(f"{server.url}/v1/models/churn-batch").json()["spec"]
    assert spec["segments"] == ["region"]


def test_batch_script_to_a_local_data_dir(tmp_path: Path) -> None:
    from mlwarden.store import open_store
    from mlwarden.store.queries import event_counts

    data = tmp_path / "local"
    env = sdk_env("", tmp_path / "spool", MLWARDEN_PATH=str(data))
    env.pop("MLWARDEN_URL")
    done = run_batch(env, 2000)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(data)
    try:
        m = store.get_model("default", "churn-batch")
        (c,) = event_counts(store.events(m), store.actuals(m), window=None).to_pylist()
    finally:
        store.close()
    assert c["events"] == 2000 and c["labelled"] == 2000


def test_log_by_hand_script_to_a_local_data_dir(tmp_path: Path) -> None:
    from mlwarden.store import open_store
    from mlwarden.store.queries import event_counts

    data = tmp_path / "local"
    env = sdk_env("", tmp_path / "spool", MLWARDEN_PATH=str(data))
    env.pop("MLWARDEN_URL")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "log_by_hand.py"), "400"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(data)
    try:
        m = store.get_model("default", "fraud")
        (c,) = event_counts(store.events(m), store.actuals(m), window=None).to_pylist()
        assert m.spec.segments == ("channel",)
    finally:
        store.close()
    assert c["events"] == 400 and c["labelled"] == 100 and c["latency_n"] == 400
