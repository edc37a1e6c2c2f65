"""UI logins kept on the server: the browser holds a random session id, never the API key.

A session remembers which key logged in; every request re-checks that key in the key file, so
revoking a key ends its sessions at once. Sessions expire after the configured hours and end
at logout; they live in memory (a restart asks people to log in again). The store is bounded:
past ``max_sessions`` the oldest session is dropped.

Examples
--------
>>> s = SessionStore(ttl_s=60, clock=lambda: 0.0)
>>> sid = s.create("1a2b3c4d")
>>> s.lookup(sid)
'1a2b3c4d'
>>> s.drop(sid); s.lookup(sid) is None
True
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["SESSION_COOKIE", "SessionStore"]

SESSION_COOKIE = "mlwarden_session"


class SessionStore:
    """Session id -> key id, with an expiry (thread-safe, bounded)."""

    def __init__(
        self,
        *,
        ttl_s: float,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def create(self, key_id: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = (key_id, self.clock() + self.ttl_s)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return sid

    def lookup(self, sid: str) -> str | None:
        """The key id of a live session, or None (unknown or expired)."""
        with self._lock:
            found = self._sessions.get(sid)
            if found is None:
                return None
            if found[1] <= self.clock():
                del self._sessions[sid]
                return None
            return found[0]

    def drop(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)
