"""Fold the write-ahead log into the database file on a time bound as well as a size bound.

DuckDB checkpoints when the WAL passes ``checkpoint_threshold`` (256 MB here, for ingest
speed). A quiet server then keeps everything in the WAL for days, and a WAL cut short (a
disk fault, a copy of the files of a running server) loses all of it. This thread
checkpoints once the WAL has held commits for ``after_s`` seconds, or has grown past
``max_wal_bytes``, on its own connection: the writer keeps committing (DuckDB holds
commits only while the checkpoint installs its result) and no request waits for it.
Every tick it also runs ``on_tick`` (the engine flushes its commit ledger to disk).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Checkpointer"]

log = logging.getLogger("mlwarden.store")


class Checkpointer:
    """Runs ``checkpoint()`` on a thread when the WAL has been dirty long enough (``after_s``;
    None: never by age) or is large.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> done = threading.Event()
    >>> cp = Checkpointer(done.set, wal=pathlib.Path(tempfile.mkdtemp()) / "x.wal",
    ...                   after_s=0.01, max_wal_bytes=1 << 30, on_tick=lambda: None, tick=0.01)
    >>> cp.dirty(); done.wait(10)
    True
    >>> cp.close()
    """

    def __init__(
        self,
        checkpoint: Callable[[], None],
        *,
        wal: Path,
        after_s: float | None,
        max_wal_bytes: int,
        on_tick: Callable[[], None],
        tick: float = 0.25,
    ) -> None:
        self.checkpoint = checkpoint
        self.wal = wal
        self.after_s = after_s
        self.max_wal_bytes = max_wal_bytes
        self.on_tick = on_tick
        self.tick = tick
        self._dirty_since: float | None = None
        self._stop = threading.Event()
        self._failed = False
        self.checkpoints_ = 0
        self._thread = threading.Thread(target=self._run, name="mlwarden-checkpoint", daemon=True)
        self._thread.start()

    def dirty(self) -> None:
        """A commit went to the WAL (called by the writer after each commit)."""
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _due(self) -> bool:
        since = self._dirty_since
        if since is None:
            return False
        if self.after_s is not None and time.monotonic() - since >= self.after_s:
            return True
        try:
            return self.wal.stat().st_size >= self.max_wal_bytes
        except OSError:
            return False

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.on_tick()
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                log.warning("checkpointer housekeeping failed: %s", exc)
            if not self._due():
                continue
            since, self._dirty_since = self._dirty_since, None
            try:
                self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - retried at the next tick
                self._dirty_since = since
                if not self._failed:
                    log.warning("checkpoint failed (retrying): %s", exc)
                self._failed = True
            else:
                self._failed = False
                self.checkpoints_ += 1

    def close(self, timeout: float = 30.0) -> None:
        """Stop (a running checkpoint finishes first)."""
        self._stop.set()
        self._thread.join(timeout)
