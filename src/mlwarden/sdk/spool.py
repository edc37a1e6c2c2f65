"""The on-disk spool: batches the receiver could not take yet, as Arrow IPC files.

Layout: ``<spool_dir>/<model>/<pid>-<nonce>/<seq>.<kind>.<rows>.<dest>.arrow``,
one directory per process (pre-fork workers never share a file), each file one
batch (Arrow IPC *file* format, zstd-compressed buffers: readable with
``pyarrow.ipc.open_file``), written to a temporary name and renamed, so a
crash never leaves half a batch. Files are replayed oldest first.

The directory is created on the first spilled batch, holds an exclusive
``flock`` on its ``.lock`` file while the process lives, and is *adopted* by
a later process of the same model (a restarted server, a sibling worker)
once its owner is gone, so nothing spooled is lost to a crash or a restart.

The spool is capped (bytes on disk, per process); when a new batch does not
fit, the oldest batches are deleted and their rows counted as dropped.

Batches hold the application's data, so directories are 0700 and files 0600,
set explicitly (the application's umask is not ours). A spool directory that
belongs to another user, is a symbolic link, or that group or others may write
to (someone could read the batches, or plant batches that would be replayed
under this application's API key) is never used: the spool logs once and moves
to a fresh private directory (:func:`tempfile.mkdtemp`), which later processes
do not adopt. Nothing is raised into the application.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no adoption of other processes' spools
    fcntl = None  # type: ignore[assignment]

__all__ = ["Entry", "Spool", "unsafe_reason"]

log = logging.getLogger("mlwarden.sdk")

SUFFIX = ".arrow"
_CODEC = "zstd" if pa.Codec.is_available("zstd") else None


def unsafe_reason(path: Path, *, tighten: bool = True) -> str | None:
    """Create directory ``path`` (0700) if missing; None when it is this user's and no one
    else may write to it, otherwise why it must not hold spooled batches. ``tighten``: make
    a directory of this user that others may read (older versions made them 0755) 0700.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "spool"
    >>> unsafe_reason(d), oct(d.stat().st_mode & 0o777)
    (None, '0o700')
    >>> d.chmod(0o777); unsafe_reason(d)
    'group or others may write to it (mode 0o777)'
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: per-user temp folders
        path.mkdir(parents=True, exist_ok=True)
        return None
    try:
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return unsafe_reason(path, tighten=tighten)
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.geteuid():
        return f"it belongs to user {st.st_uid}, not {os.geteuid()}"
    if mode & 0o022:
        return f"group or others may write to it (mode {oct(mode)})"
    if tighten and mode & 0o077:
        os.chmod(path, 0o700)
    return None


@dataclass(frozen=True)
class Entry:
    """One spooled batch."""

    path: Path
    kind: str  # "events" or "actuals"
    dest: str  # the model it is for
    rows: int
    size: int


class Spool:
    """Size-capped directory of batches for one monitor in one process.

    Examples
    --------
    >>> import tempfile
    >>> spool = Spool(tempfile.mkdtemp(), "churn", max_bytes=10_000_000)
    >>> spool.put("events", "churn", pa.table({"event_id": ["a", "b"]}))
    []
    >>> e = spool.oldest(); (e.kind, e.dest, e.rows, spool.rows())
    ('events', 'churn', 2, 2)
    >>> spool.read(e).num_rows
    2
    >>> spool.remove(e); spool.rows()
    0
    >>> spool.close()
    """

    def __init__(self, root: str | Path, model: str, *, max_bytes: int) -> None:
        self.root = Path(root) / model
        self.max_bytes = max_bytes
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may spool on this thread
        self._entries: deque[Entry] = deque()
        self._busy: set[Path] = set()
        self._bytes = 0
        self._rows = 0
        self._seq = 0
        self._dir: Path | None = None
        self._lock_fd: int | None = None
        self._checked = False

    # -- where -------------------------------------------------------------------------------------
    def _base(self) -> Path:
        """The model's spool root, checked once: this user's and private, or else a fresh
        private directory (logged once)."""
        with self._lock:
            if not self._checked:
                # the directory given (it may be shared by models) is checked; the model's
                # own directory, where batches live, is also made private
                why = unsafe_reason(self.root.parent, tighten=False) or unsafe_reason(self.root)
                if why is not None:
                    fallback = Path(tempfile.mkdtemp(prefix="mlwarden-spool-")) / self.root.name
                    fallback.mkdir(mode=0o700)
                    log.warning(
                        "mlwarden: not using the spool directory %s (%s); batches are spooled "
                        "to %s instead, which later processes do not pick up",
                        self.root,
                        why,
                        fallback,
                    )
                    self.root = fallback
                self._checked = True
            return self.root

    # -- own directory -------------------------------------------------------------------------
    def directory(self) -> Path:
        """This process's directory, created (and locked) on first use."""
        if self._dir is None:
            root = self._base()
            tmp = root / f".new-{os.getpid()}-{secrets.token_hex(4)}"
            tmp.mkdir(mode=0o700)
            os.chmod(tmp, 0o700)
            fd = os.open(tmp / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            final = root / f"{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(tmp, final)
            self._dir, self._lock_fd = final, fd
        return self._dir

    def rows(self) -> int:
        return self._rows

    def size(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # -- batches -------------------------------------------------------------------------------
    def put(self, kind: str, dest: str, table: pa.Table) -> list[Entry]:
        """Store a batch; return the entries evicted to make room (the new one, if it alone is
        over the cap). Raises OSError when the disk refuses."""
        with self._lock:
            d = self.directory()
            self._seq += 1
            name = f"{self._seq:012d}.{kind}.{table.num_rows}.{dest}{SUFFIX}"
            tmp = d / f".tmp-{name}"
            options = pa.ipc.IpcWriteOptions(compression=_CODEC)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                os.close(fd)  # created 0600 whatever the umask; pyarrow writes into it
                with pa.OSFile(str(tmp), "wb") as sink:
                    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
                        writer.write_table(table)
                size = tmp.stat().st_size
                entry = Entry(d / name, kind, dest, table.num_rows, size)
                if size > self.max_bytes:
                    tmp.unlink()
                    return [entry]
                evicted = self._evict(self.max_bytes - size)
                os.replace(tmp, entry.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            self._add(entry)
            return evicted

    def _add(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._bytes += entry.size
        self._rows += entry.rows

    def _evict(self, budget: int) -> list[Entry]:
        evicted: list[Entry] = []
        for entry in list(self._entries):
            if self._bytes <= budget:
                break
            if entry.path in self._busy:  # being replayed right now
                continue
            self._drop(entry)
            evicted.append(entry)
        return evicted

    def _drop(self, entry: Entry) -> None:
        with contextlib.suppress(ValueError):
            self._entries.remove(entry)
            self._bytes -= entry.size
            self._rows -= entry.rows
        with contextlib.suppress(OSError):
            entry.path.unlink()

    def oldest(self) -> Entry | None:
        """The oldest batch, marked busy (not evicted) until :meth:`remove` or :meth:`release`."""
        with self._lock:
            for entry in self._entries:
                if entry.path not in self._busy:
                    self._busy.add(entry.path)
                    return entry
        return None

    def read(self, entry: Entry) -> pa.Table:
        with pa.memory_map(str(entry.path)) as source:
            return pa.ipc.open_file(source).read_all()

    def remove(self, entry: Entry) -> None:
        with self._lock:
            self._busy.discard(entry.path)
            self._drop(entry)

    def release(self, entry: Entry) -> None:
        with self._lock:
            self._busy.discard(entry.path)

    # -- other processes' spools -----------------------------------------------------------------
    def adopt(self) -> int:
        """Take over the batches of directories whose owner process is gone; return how many."""
        if fcntl is None or not self.root.is_dir():
            return 0
        adopted = 0
        for other in sorted(self._base().iterdir()):
            if other.name.startswith(".") or other == self._dir or not other.is_dir():
                continue
            try:
                fd = os.open(other / ".lock", os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # its owner is alive
            try:
                adopted += self._take(other)
            finally:
                os.close(fd)
        return adopted

    def _take(self, other: Path) -> int:
        files = sorted(p for p in other.iterdir() if p.name.endswith(SUFFIX) and p.name[0] != ".")
        n = 0
        with self._lock:
            d = self.directory()
            for p in files:
                parts = p.name[: -len(SUFFIX)].split(".", 3)
                if len(parts) != 4 or not parts[2].isdigit():
                    continue
                self._seq += 1
                _, kind, rows, dest = parts
                target = d / f"{self._seq:012d}.{kind}.{rows}.{dest}{SUFFIX}"
                try:
                    os.rename(p, target)
                    os.chmod(target, 0o600)  # files of older versions were 0644
                    self._add(Entry(target, kind, dest, int(rows), target.stat().st_size))
                    n += 1
                except OSError:
                    continue
        for p in other.iterdir():
            with contextlib.suppress(OSError):
                p.unlink()
        with contextlib.suppress(OSError):
            other.rmdir()
        return n

    # -- lifecycle -------------------------------------------------------------------------------
    def forget_after_fork(self) -> None:
        """In a forked child: close the parent's lock handle (the parent keeps its lock)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        self._lock_fd = None

    def close(self) -> None:
        """Release the directory; remove it when empty (otherwise the next process adopts it)."""
        with self._lock:
            if self._dir is not None and not self._entries:
                with contextlib.suppress(OSError):
                    (self._dir / ".lock").unlink()
                    self._dir.rmdir()
            if self._lock_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._lock_fd)
            self._lock_fd = None
            self._dir = None if not self._entries else self._dir
