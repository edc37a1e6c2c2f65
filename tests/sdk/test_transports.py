"""Transports (HTTP answers, the local store), configuration from the environment, exit hooks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlwarden
from mlwarden.errors import ConfigError
from mlwarden.sdk import HTTPTransport, LocalTransport, Result
from mlwarden.sdk.http import _outcome

from .conftest import ROOT, sdk_env

ROWS = 10


@pytest.mark.parametrize(
    ("code", "body", "retry_after", "expected", "accepted", "rejected"),
    [
        (200, {"accepted": 10, "duplicates": 2, "rejected": []}, None, Result.OK, 10, 0),
        (207, {"accepted": 8, "rejected": [{"index": 1}, {"index": 2}]}, None, Result.OK, 8, 2),
        (422, {"accepted": 0, "rejected": [{"index": 0}] * 10}, None, Result.OK, 0, 10),
        (422, {"error": {"type": "ValidationError", "message": "not Arrow"}}, None, Result.FAILED, 0, 0),
        (401, {"error": {"type": "AuthError", "message": "no key"}}, None, Result.FAILED, 0, 0),
        (404, {"error": {"type": "NotFoundError", "message": "no model"}}, None, Result.MISSING_MODEL, 0, 0),
        (404, None, None, Result.FAILED, 0, 0),
        (413, None, None, Result.TOO_LARGE, 0, 0),
        (408, None, None, Result.RETRY, 0, 0),
        (429, None, "7", Result.RETRY, 0, 0),
        (500, None, None, Result.RETRY, 0, 0),
        (503, {"error": {"type": "StorageError", "message": "disk"}}, None, Result.RETRY, 0, 0),
    ],
)  # fmt: skip
def test_http_answers_map_to_outcomes(
    code: int,
    body: object,
    retry_after: str | None,
    expected: Result,
    accepted: int,
    rejected: int,
) -> None:
    out = _outcome(code, body, retry_after, ROWS)
    assert (out.result, out.accepted, out.rejected) == (expected, accepted, rejected)
    assert out.retry_after == (7.0 if retry_after else None)
    if expected is Result.FAILED:
        assert out.reason.startswith(f"HTTP {code}")


def test_local_transport_writes_validated_rows_and_quarantines_bad_ones(tmp_path: Path) -> None:
    from mlwarden.store import open_store
    from mlwarden.store.queries import event_counts

    m = mlwarden.init(model="local", path=tmp_path / "data", task="regression", create=True)
    good = [m.log({"x": float(i)}, float(i) * 2) for i in range(20)]
    m.log({"x": 1.0}, "not a number")
    for event_id in good[:5]:
        m.log_actual(event_id, 1.5)
    m.close()
    s = m.stats()
    assert (s.sent, s.rejected, s.dropped) == (25, 1, 0)
    assert isinstance(m.transport, LocalTransport)
    store = open_store(tmp_path / "data")
    try:
        rec = store.get_model("default", "local")
        (c,) = event_counts(store.events(rec), store.actuals(rec), window=None).to_pylist()
        quarantined = store.quarantined("default", "local").num_rows
    finally:
        store.close()
    assert (c["events"], c["labelled"], quarantined) == (20, 5, 1)


def test_init_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLWARDEN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLWARDEN_API_KEY", "mlw_secret")
    monkeypatch.setenv("MLWARDEN_MODEL", "fraud")
    monkeypatch.setenv("MLWARDEN_VERSION", "v7")
    monkeypatch.setenv("MLWARDEN_TIMEOUT", "2.5")
    monkeypatch.setenv("MLWARDEN_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("MLWARDEN_SPOOL_MAX_MB", "1")
    monkeypatch.setenv("MLWARDEN_FLUSH_INTERVAL", "0.2")
    monkeypatch.setenv("MLWARDEN_MAX_BACKOFF", "3")
    m = mlwarden.init()
    try:
        t = m.transport
        assert isinstance(t, HTTPTransport)
        assert (t.url, t.api_key, t.timeout) == ("http://127.0.0.1:9", "mlw_secret", 2.5)
        assert (m.model, m.version, m.flush_interval, m.max_backoff) == ("fraud", "v7", 0.2, 3.0)
        assert (m.spool_max_bytes, m.spool_dir) == (1024 * 1024, str(tmp_path / "spool"))
        assert (
            mlwarden.init(url="http://x:1", transport=mlwarden.InMemoryTransport()).model == "fraud"
        )
    finally:
        m.close(timeout=0.2)
    monkeypatch.setenv("MLWARDEN_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="The 'MLWARDEN_TIMEOUT' environment variable must be"):
        mlwarden.init()
    monkeypatch.setenv("MLWARDEN_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="either MLWARDEN_URL or MLWARDEN_PATH"):
        mlwarden.init()
    monkeypatch.delenv("MLWARDEN_MODEL")
    with pytest.raises(ConfigError, match="'model' argument is required"):
        mlwarden.init(transport=mlwarden.InMemoryTransport())


def run_script(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = sdk_env("", tmp_path / "spool")
    env.pop("MLWARDEN_URL")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stored(data: Path, model: str) -> int:
    from mlwarden.store import open_store

    store = open_store(data)
    try:
        n: int = store.events(store.get_model("default", model)).count().to_pyarrow().as_py()
    finally:
        store.close()
    return n


@pytest.mark.parametrize("previous", ["default", "custom"])
def test_sigterm_flushes_then_chains_to_the_previous_handler(tmp_path: Path, previous: str) -> None:
    data = tmp_path / "data"
    custom = previous == "custom"
    done = run_script(
        f"""
        import os, signal, sys, time
        import mlwarden
        if {custom}:
            signal.signal(signal.SIGTERM, lambda *a: (print("previous handler"), sys.exit(3)))
        m = mlwarden.init(model="jobs", path={str(data)!r}, task="binary", create=True, flush_interval=600)
        for i in range(100):
            m.log({{"x": i}}, i % 2)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        """,
        tmp_path,
    )
    assert done.returncode == (3 if custom else -15), done.stderr
    assert ("previous handler" in done.stdout) is custom
    assert stored(data, "jobs") == 100


def test_exit_without_close_flushes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_script(
        f"""
        import mlwarden
        m = mlwarden.init(model="jobs", path={str(data)!r}, task="binary", create=True, flush_interval=600)
        for i in range(100):
            m.log({{"x": i}}, i % 2)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert stored(data, "jobs") == 100
