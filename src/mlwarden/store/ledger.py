"""The commit ledger: a small side file that remembers what was acknowledged.

DuckDB replays its write-ahead log at start-up and, when the log ends in a
torn record, silently stops there (``wal_replay.cpp`` swallows serialization
errors; the file is truncated to the last good entry at the first write). The
database then opens with fewer rows than clients were told were stored, and
nothing says so.

So every group commit carries a sequence number twice: inside its own
transaction (``meta.commit_seq``, replayed with the data) and, after the
commit and before any request is acknowledged, in this ledger (written in
place and fsynced). At start-up a database whose sequence is behind the
ledger's lost acknowledged commits; :func:`compare` says how many, and with
how many rows.

The record is 44 bytes (magic, four counters, CRC32), rewritten in place with
``pwrite`` before the group's requests are acknowledged, so it survives a crash
of the server process; :meth:`CommitLedger.sync` (``fdatasync``, called by the
checkpointer every 0.25 s and at each checkpoint) puts it on the disk itself.
An ``fdatasync`` per commit cost ~4 ms on the writer thread. Well under a disk
sector, the record is written whole or not at all; the CRC catches the rest.

Examples
--------
>>> import tempfile, pathlib
>>> ledger = CommitLedger(pathlib.Path(tempfile.mkdtemp()) / "db.ledger")
>>> ledger.claim(), ledger.read() is None
(True, True)
>>> CommitLedger(ledger.path).claim()  # one store at a time
False
>>> ledger.record(LedgerState(seq=3, rows=1500, checkpoint_seq=1, checkpoint_rows=500))
>>> ledger.read()
LedgerState(seq=3, rows=1500, checkpoint_seq=1, checkpoint_rows=500)
>>> ledger.close()
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CommitLedger", "LedgerState", "compare"]

_MAGIC = b"MLWLEDG1"
_BODY = struct.Struct("<8sQQQQ")  # magic, seq, rows, checkpoint_seq, checkpoint_rows
_CRC = struct.Struct("<I")
SIZE = _BODY.size + _CRC.size


@dataclass(frozen=True)
class LedgerState:
    """Commits (and the rows they carried) acknowledged so far, and as of the last checkpoint."""

    seq: int = 0
    rows: int = 0
    checkpoint_seq: int = 0
    checkpoint_rows: int = 0


class CommitLedger:
    """The ledger file of one database, kept by one store at a time (:meth:`claim`).

    A second store opened on the same file in the same process (two monitors writing to one
    data directory) cannot claim it and keeps no ledger: two independent counters would
    report losses that did not happen.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._unsynced = False
        self._lock = threading.Lock()

    def read(self) -> LedgerState | None:
        """The stored state; None when there is no ledger yet. Raises ValueError when the
        file exists but is not a valid ledger."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not data:  # created by claim(), never written
            return None
        if len(data) < SIZE:
            raise ValueError(f"the ledger has {len(data)} bytes, expected {SIZE}")
        body, (crc,) = data[: _BODY.size], _CRC.unpack_from(data, _BODY.size)
        magic, seq, rows, cseq, crows = _BODY.unpack(body)
        if magic != _MAGIC or zlib.crc32(body) != crc:
            raise ValueError("the ledger's checksum does not match")
        return LedgerState(seq, rows, cseq, crows)

    def claim(self) -> bool:
        """Open the ledger and take its lock; False when another store holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.fchmod(fd, 0o600)
        self._fd = fd
        return True

    def record(self, state: LedgerState, *, sync: bool = False) -> None:
        """Write ``state`` in place (to the page cache; ``sync``: and wait for the disk)."""
        body = _BODY.pack(
            _MAGIC, state.seq, state.rows, state.checkpoint_seq, state.checkpoint_rows
        )
        data = body + _CRC.pack(zlib.crc32(body))
        with self._lock:
            if self._fd is None:
                raise OSError("the ledger is not claimed")
            os.pwrite(self._fd, data, 0)
            self._unsynced = True
        if sync:
            self.sync()

    def sync(self) -> None:
        """Put the last record on the disk (``fdatasync``) if it is not there yet."""
        with self._lock:
            if self._fd is not None and self._unsynced:
                self._unsynced = False
                os.fdatasync(self._fd)

    def close(self) -> None:
        self.sync()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def compare(*, found_seq: int, found_rows: int, expected: LedgerState | None) -> str | None:
    """A sentence describing acknowledged commits missing from the database, or None.

    Examples
    --------
    >>> compare(found_seq=5, found_rows=2500, expected=LedgerState(5, 2500))
    >>> msg = compare(found_seq=2, found_rows=1000, expected=LedgerState(5, 2500))
    >>> msg.split(":")[0]
    '3 acknowledged commits (1500 rows) are missing'
    """
    if expected is None or found_seq >= expected.seq:
        return None
    lost = expected.seq - found_seq
    return (
        f"{lost} acknowledged commit{'s' if lost != 1 else ''} "
        f"({max(expected.rows - found_rows, 0)} rows) are missing: the ledger records commits "
        f"up to #{expected.seq} ({expected.rows} rows) but the database holds commits up to "
        f"#{found_seq} ({found_rows} rows)."
    )
