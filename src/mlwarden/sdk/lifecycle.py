"""Process events every live monitor must react to: exit, SIGTERM, and fork.

* **exit** (``atexit``): each monitor flushes with its deadline; what cannot be
  sent in time is written to the spool, where the next process adopts it.
* **SIGTERM**: the default action kills the process without running
  ``atexit``, so a handler flushes first and then chains to the handler that
  was installed before (or re-raises the signal with the default action).
  Servers that install their own handler later (uvicorn, gunicorn workers)
  exit through ``atexit`` instead.
* **fork** (``os.register_at_fork``): the child of a pre-fork server gets a
  fresh queue, fresh threads, a fresh HTTP client and its own spool directory;
  nothing that belongs to the parent (sockets, file handles, locks) is used.
  Before the fork the parent waits (at most :data:`FORK_WAIT` seconds per
  thread) until its delivery threads are between two pieces of work: a child
  forked while a parent's thread imports a module would deadlock on that
  module's import lock the first time it imports it too.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlwarden.sdk.monitor import Monitor

__all__ = ["register"]

log = logging.getLogger("mlwarden.sdk")

_live: weakref.WeakSet[Monitor] = weakref.WeakSet()
_installed = False
_previous_sigterm: Any = None
_sigterm_installed = False
_guard = threading.Lock()


def register(monitor: Monitor) -> None:
    """Track a started monitor; install the process hooks the first time."""
    global _installed
    with _guard:
        _live.add(monitor)
        if not _installed:
            atexit.register(_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(
                    before=_before_fork,
                    after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child,
                )
            _installed = True
    _install_sigterm()


def unregister(monitor: Monitor) -> None:
    with _guard:
        _live.discard(monitor)


def _install_sigterm() -> None:
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    with contextlib.suppress(ValueError, OSError, AttributeError):
        _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True


def _close_all() -> None:
    for monitor in list(_live):
        try:
            monitor.close()
        except Exception:  # noqa: BLE001 - never fail an exit
            log.exception("mlwarden: closing a monitor at exit failed")


def _at_exit() -> None:
    _close_all()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterm_installed
    _close_all()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL (or unknown): die as if we were not here
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_installed = False
        os.kill(os.getpid(), signal.SIGTERM)


#: Longest wait, per delivery thread, for a safe moment to fork (a send in progress).
FORK_WAIT = 2.0


def _before_fork() -> None:
    for monitor in list(_live):
        monitor._pipeline.pause(FORK_WAIT)


def _after_fork_in_parent() -> None:
    for monitor in list(_live):
        monitor._pipeline.resume()


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()  # the parent may have held it while forking
    for monitor in list(_live):
        try:
            monitor._after_fork()
        except Exception:  # noqa: BLE001 - a child must start even if monitoring cannot
            log.exception("mlwarden: restarting a monitor in a forked process failed")
