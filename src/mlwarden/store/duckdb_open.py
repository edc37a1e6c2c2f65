"""Opening the database file: private permissions, one clear error per failure, and a report of
what the write-ahead log replay recovered (compared with the commit ledger).

Failures are told apart by looking at the file system, never by the text of DuckDB's
error: a read-only mount (``statvfs``), missing permissions (``access``), a lock held by
another process (``lockf``), a file that is not a DuckDB database (its header); anything
else DuckDB refuses to open is damaged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from mlwarden.errors import StoreOpenError
from mlwarden.store.ledger import CommitLedger, LedgerState, compare

__all__ = ["ReplayReport", "explain_failure", "prepare", "private", "replay_report", "wal_path"]

log = logging.getLogger("mlwarden.store")

#: bytes 8..12 of every DuckDB database file
_MAGIC = b"DUCK"
_LOSS_GLOB = ".loss-*.json"


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def private(path: Path) -> None:
    """Make a file of ours 0600 (explicitly: the umask is not ours to trust)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        st = path.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o777 != 0o600:
            os.chmod(path, 0o600)


def _read_only(path: Path) -> bool:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _unwritable(target: Path, exc: OSError | None) -> StoreOpenError:
    if (exc is not None and exc.errno == errno.EROFS) or _read_only(target):
        return StoreOpenError(
            f"Cannot open the database: {str(target)!r} is on a read-only file system, and "
            "mlwarden writes its database there. Remount the disk read-write, or pass "
            "--data-dir on a writable disk."
        )
    why = exc.strerror if exc is not None and exc.strerror else "permission denied"
    return StoreOpenError(
        f"Cannot open the database: user {os.geteuid()} may not read and write "
        f"{str(target)!r} ({why}). Give this user access to the data directory (chown/chmod), "
        "or run mlwarden as the user that owns it."
    )


def prepare(path: Path) -> int:
    """Create the parent directory (0700) if missing and check that the database can be read
    and written; return the size of the WAL found (0: none)."""
    parent = path.parent
    try:
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
            os.chmod(parent, 0o700)
    except OSError as exc:
        raise _unwritable(parent, exc) from exc
    wal = wal_path(path)
    for target, mode in (
        (parent, os.R_OK | os.W_OK | os.X_OK),
        (path, os.R_OK | os.W_OK),
        (wal, os.R_OK | os.W_OK),
    ):
        if target.exists() and not os.access(target, mode):
            raise _unwritable(target, None)
    try:
        return wal.stat().st_size
    except FileNotFoundError:
        return 0


def _locked_by_another_process(path: Path) -> bool:
    # Only called after DuckDB failed to open the file, so this process holds no lock on it
    # that closing our descriptor could release.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _not_duckdb(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[8:12] != _MAGIC


def explain_failure(path: Path, exc: duckdb.Error) -> StoreOpenError:
    """The error to show when DuckDB cannot open (or replay) ``path``."""
    if isinstance(exc, duckdb.ConnectionException):
        # open in this process already: reading the file here could drop that lock
        return StoreOpenError(
            f"Cannot open the database {str(path)!r}: this process has it open already with "
            f"other settings ({exc}). Use the store that is open."
        )
    if isinstance(exc, duckdb.IOException) and _locked_by_another_process(path):
        return StoreOpenError(
            f"Cannot open the database {str(path)!r}: another process (a running mlwarden "
            "server?) holds it. Stop that process, or talk to that server over HTTP instead."
        )
    try:
        prepare(path)  # lost permissions or a read-only remount since the first check
    except StoreOpenError as err:
        return err
    wal = wal_path(path)
    what = "is not a DuckDB database" if _not_duckdb(path) else "is damaged"
    also = f" (and its write-ahead log {str(wal)!r})" if wal.exists() else ""
    return StoreOpenError(
        f"Cannot open the database {str(path)!r}: the file {what} ({exc}). Restore "
        f"{path.name}{also} from a backup; or, to start with an empty database, move the "
        "file aside. Nothing was changed. See 'Recovering' in docs/storage.md."
    )


@dataclass(frozen=True)
class ReplayReport:
    """What opening the database recovered, compared with the ledger: ``warnings`` are the
    problems to show in logs and on ``/v1/health`` until they are dealt with; ``state`` is
    where the ledger starts."""

    warnings: tuple[str, ...]
    state: LedgerState


def replay_report(
    path: Path, ledger: CommitLedger, *, wal_bytes: int, found_seq: int, found_rows: int
) -> ReplayReport:
    """Log what was replayed; detect acknowledged commits that did not survive; start the
    ledger from what the database holds."""
    try:
        expected = ledger.read()
        unreadable = None
    except (OSError, ValueError) as exc:
        expected, unreadable = None, str(exc)
    base = expected if expected is not None else LedgerState()
    if wal_bytes:
        log.info(
            "opened %s: replayed a %s write-ahead log; commits up to #%d (%d rows) were in the "
            "file at its last checkpoint, the database now holds commits up to #%d (%d rows)",
            path,
            _size(wal_bytes),
            base.checkpoint_seq,
            base.checkpoint_rows,
            found_seq,
            found_rows,
        )
    else:
        log.info("opened %s: no write-ahead log to replay; commits up to #%d", path, found_seq)
    if unreadable is not None:
        log.warning(
            "the commit ledger %s is not valid (%s); starting it afresh", ledger.path, unreadable
        )
    loss = compare(found_seq=found_seq, found_rows=found_rows, expected=expected)
    warnings: list[str] = []
    if loss is not None and not _write_loss(path, loss, wal_bytes=wal_bytes):
        warnings.append(f"Data loss detected: {loss}")
    for report in sorted(path.parent.glob(path.name + _LOSS_GLOB)):
        try:
            message = str(json.loads(report.read_text())["message"])
        except (OSError, ValueError, KeyError, TypeError):
            message = "acknowledged commits were missing at a start-up"
        warnings.append(f"Data loss detected: {message} (remove {str(report)!r} once dealt with)")
    for w in warnings:
        log.error("%s", w)
    found = LedgerState(found_seq, found_rows, found_seq, found_rows)
    return ReplayReport(warnings=tuple(warnings), state=found)


def _write_loss(path: Path, loss: str, *, wal_bytes: int) -> bool:
    now = datetime.now(UTC)
    message = (
        f"{loss} The write-ahead log ({_size(wal_bytes)} at start-up) was cut short: a disk "
        "fault, a full disk, or a copy of the files taken while the server ran. Restore "
        "the database from a backup if you have one (docs/storage.md, 'Recovering'); "
        "clients that still hold the data can re-send it (re-sent events are stored once)."
    )
    report = path.with_name(f"{path.name}.loss-{now:%Y%m%dT%H%M%SZ}.json")
    body = json.dumps({"detected_at": now.isoformat(), "message": message}, indent=2)
    try:
        fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
    except OSError as exc:  # the warning is still logged and shown on /v1/health
        log.error("cannot write the loss report %s: %s", report, exc)
        return False
    return True


def _size(n: int) -> str:
    """
    >>> _size(0), _size(12288), _size(6 * 1024 * 1024)
    ('0 B', '12.0 KiB', '6.0 MiB')
    """
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"
