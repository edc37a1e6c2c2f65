"""Spooled batches hold the application's data: directories 0700 and files 0600 whatever the
umask, and a spool directory someone else controls is never used (logged once, a private
directory instead; nothing raised into the application)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from mlwarden.sdk.spool import Spool
from serverproc import free_port

from .conftest import AppProcess, event_count, new_server, predict, sdk_env, uvicorn_app, wait_for

TABLE = pa.table({"event_id": ["a", "b"], "x": [1.0, 2.0]})


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_spool_directories_and_files_are_private_whatever_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    spool = Spool(tmp_path / "spool", "churn", max_bytes=10_000_000)
    try:
        assert spool.put("events", "churn", TABLE) == []
        entry = spool.oldest()
        assert entry is not None
        assert _mode(entry.path) == 0o600
        assert _mode(entry.path.parent) == 0o700  # this process's directory
        assert _mode(tmp_path / "spool" / "churn") == 0o700
        assert _mode(tmp_path / "spool") == 0o700
    finally:
        spool.close()


def test_an_older_spool_left_readable_by_others_is_made_private(
    tmp_path: Path, umask_022: None
) -> None:
    (tmp_path / "spool" / "churn").mkdir(parents=True, mode=0o755)
    spool = Spool(tmp_path / "spool", "churn", max_bytes=10_000_000)
    try:
        spool.put("events", "churn", TABLE)
        assert _mode(tmp_path / "spool" / "churn") == 0o700
        assert spool.root == tmp_path / "spool" / "churn"
    finally:
        spool.close()


def _refused(shared: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = sorted(shared.rglob("*"))
    spool = Spool(shared, "churn", max_bytes=10_000_000)
    try:
        with caplog.at_level(logging.WARNING, logger="mlwarden.sdk"):
            spool.put("events", "churn", TABLE)
            spool.put("events", "churn", TABLE)
            assert spool.adopt() == 0  # batches planted there are not replayed either
        warnings = [r for r in caplog.records if "not using the spool directory" in r.message]
        assert len(warnings) == 1, caplog.text
        assert str(shared) in warnings[0].message
        entry = spool.oldest()
        assert entry is not None and shared not in entry.path.parents
        assert _mode(entry.path) == 0o600 and _mode(spool.root) == 0o700
        assert spool.rows() == 4
        assert sorted(shared.rglob("*")) == before  # nothing written, nothing taken
    finally:
        spool.close()


def _plant(shared: Path) -> None:
    other = shared / "churn" / "1-abcd"
    other.mkdir(parents=True)
    (other / ".lock").write_bytes(b"")
    with pa.OSFile(str(other / "000000000001.events.2.churn.arrow"), "wb") as sink:
        with pa.ipc.new_file(sink, TABLE.schema) as writer:
            writer.write_table(TABLE)


def test_a_spool_directory_others_may_write_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    _plant(shared)
    shared.chmod(0o777)
    _refused(shared, caplog)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_spool_directory_of_another_user_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "theirs"
    _plant(shared)
    for p in [shared, *shared.rglob("*")]:
        os.chown(p, 65534, 65534)
    shared.chmod(0o755)
    _refused(shared, caplog)


def test_the_app_keeps_answering_and_delivers_through_a_private_spool(
    tmp_path: Path, apps: list[AppProcess]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    port = free_port()
    app = uvicorn_app(
        "fastapi_app", sdk_env(f"http://127.0.0.1:{port}", shared), tmp_path / "app.log"
    )
    apps.append(app.start())
    with httpx.Client(timeout=10) as client:
        predict(app, 30, client)  # nothing listens, and the spool dir is refused: still 200s
        wait_for(lambda: "not using the spool directory" in app.log.read_text(), what="the warning")
        server = new_server(tmp_path / "data", port=port).start()
        try:
            wait_for(lambda: event_count(server.url, "churn") == 30, what="all events stored")
        finally:
            server.stop()
    assert not list(shared.rglob("*.arrow"))
    assert app.log.read_text().count("not using the spool directory") == 1
