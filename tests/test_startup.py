"""Start-up on a database that cannot be opened is one clear message and exit code 4; the data
directory and the database files are private to the user running the server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlwarden.store import open_store
from serverproc import ServerProcess, free_port
from test_server import ARROW, event_table, ipc, register

EXIT_STORE = 4


def _serve(data: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mlwarden.cli.main", "serve", "--data-dir", str(data)]
    cmd += ["--port", str(free_port()), "--log-level", "warning"]
    return subprocess.run(
        [*wrapper, *cmd], capture_output=True, text=True, timeout=120, check=False
    )


def _database(data: Path) -> Path:
    store = open_store(data)
    store.close()
    return data / "mlwarden.duckdb"


def _one_clear_message(run: subprocess.CompletedProcess[str], *words: str) -> str:
    out = run.stdout + run.stderr
    assert run.returncode == EXIT_STORE, out
    assert "Traceback" not in out, out
    for w in words:
        assert w in out, out
    return out


def test_a_file_that_is_not_a_database_exits_4_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "mlwarden.duckdb"
    db.write_bytes(os.urandom(50_000))
    _one_clear_message(_serve(data), str(db), "not a DuckDB database", "backup")


def test_a_damaged_database_exits_4_and_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = _database(data)
    raw = bytearray(db.read_bytes())
    raw[12288:] = os.urandom(len(raw) - 12288)  # headers intact, every block garbage
    db.write_bytes(bytes(raw))
    _one_clear_message(_serve(data), str(db), "damaged", "backup")
    assert db.read_bytes() == bytes(raw)


def _unshare_works() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs user namespaces to mount read-only")
def test_a_read_only_file_system_exits_4_saying_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _database(data)
    # the data directory bind-mounted read-only in a private mount namespace: a real EROFS
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    ro = ["unshare", "-rm", "sh", "-c", script, str(data)]
    _one_clear_message(_serve(data, *ro), str(data), "read-only file system")


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_data_directory_and_database_files_are_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    data.mkdir()  # made by the user, 0755 under this umask
    assert _mode(data) == 0o755
    srv = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            register(http)
            batch = ipc(event_table(0, 100, 0))
            r = http.post("/v1/models/churn/events", content=batch, headers=ARROW)
            assert r.status_code == 200
        assert _mode(data) == 0o700
        files = [data / "mlwarden.duckdb", data / "mlwarden.duckdb.ledger"]
        wal = data / "mlwarden.duckdb.wal"
        if wal.exists():  # not yet folded into the database
            files.append(wal)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        srv.stop()
    assert _mode(data / "mlwarden.duckdb") == 0o600
