"""Security checks over the access log: failed authentications and request rates per caller.

Requests are counted per caller (an API key id, or the client address without one) in
tumbling windows of ``window_s``. When a window closes, each caller's count of requests and
of failed authentications (401) is compared with its own counts in the ``history`` windows
before it, once that many have passed since the first entry
(:func:`mlwarden.stats.access_rates.rate_increase_p`), and the server's total of failed
authentications too. A finding needs significance at the false-alarm budget (one per
30 days by default) split over the tests of the window, *and* a practical size: at least
``min_failures`` failures and three times the usual number, or at least ``min_requests``
requests and ten times the usual number. Findings become security events
(``auth_failures`` / ``request_rate``) that name the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.stats.access_rates import rate_increase_p
from mlwarden.stats.thresholds import DEFAULT_BUDGET, per_window_alpha

__all__ = ["AccessWatch"]

TOTAL = "*"


class AccessWatch:
    """Counts of the access log by window and caller, and the checks of closed windows.

    Examples
    --------
    >>> w = AccessWatch(window_s=60, history=3, min_failures=5)
    >>> def hit(minute, status, n, who="1.2.3.4"):
    ...     at = datetime(2026, 6, 1, 10, minute, tzinfo=UTC).isoformat()
    ...     return [{"at": at, "status": status, "client": who, "key_id": None}] * n
    >>> for m in range(4):  # the history: three windows, and one more to close the third
    ...     assert w.observe(hit(m, 401, 1) + hit(m, 200, 20)) == []
    >>> w.observe(hit(4, 401, 40))
    []
    >>> found = w.observe(hit(5, 200, 1))   # minute 4 closes
    >>> sorted((f["type"], f["caller"]) for f in found)  # the caller, and the server's total
    [('auth_failures', '*'), ('auth_failures', 'addr:1.2.3.4')]
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        history: int = 12,
        budget: str = str(DEFAULT_BUDGET),
        min_failures: int = 10,
        min_requests: int = 600,
    ) -> None:
        self.window_s = window_s
        self.history = history
        self.budget = budget
        self.min_failures = min_failures
        self.min_requests = min_requests
        self._lock = threading.Lock()
        #: window index -> caller -> [requests, failures]
        self._counts: dict[int, dict[str, list[int]]] = {}
        #: the last window checked (later entries of it are counted, not checked again)
        self._checked: int | None = None
        self._first: int | None = None

    def _window(self, at: str) -> int:
        t = datetime.fromisoformat(at)
        return int(t.timestamp() // self.window_s)

    def observe(
        self, entries: Iterable[dict[str, Any]], *, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Count access entries; return the findings of the windows that closed (those before
        the newest entry's window, or before ``now``'s)."""
        with self._lock:
            for e in entries:
                w = self._window(str(e["at"]))
                key_id = e.get("key_id")
                caller = f"key:{key_id}" if key_id else f"addr:{e.get('client') or '-'}"
                failed = int(e.get("status") == 401)
                by = self._counts.setdefault(w, {})
                for who in (caller, TOTAL):
                    c = by.setdefault(who, [0, 0])
                    c[0] += 1
                    c[1] += failed
            if not self._counts:
                return []
            if self._first is None:
                self._first = min(self._counts)
            current = max(self._counts)
            if now is not None:
                current = max(current, int(now.timestamp() // self.window_s))
            found: list[dict[str, Any]] = []
            for w in sorted(self._counts):
                if w < current and (self._checked is None or w > self._checked):
                    if self._first is not None and w - self._first >= self.history:
                        found += self._check(w)  # (windows without a full history: counted only)
                    self._checked = w
            return found

    def _check(self, w: int) -> list[dict[str, Any]]:
        now = self._counts.get(w, {})
        past = [self._counts.get(j, {}) for j in range(w - self.history, w)]
        for old in [j for j in self._counts if j < w - self.history]:
            del self._counts[old]
        tests = 2 * len(now) + 1
        alpha = per_window_alpha(
            self.budget, window=timedelta(seconds=self.window_s), monitors=1
        ) / max(tests, 1)
        start = datetime.fromtimestamp(w * self.window_s, UTC).isoformat()
        found: list[dict[str, Any]] = []
        for caller, (requests, failures) in sorted(now.items()):
            base_req = sum(p.get(caller, [0, 0])[0] for p in past)
            base_fail = sum(p.get(caller, [0, 0])[1] for p in past)
            usual_fail = base_fail / self.history
            if (
                failures >= self.min_failures
                and failures >= 3 * usual_fail
                and rate_increase_p(failures, base_fail, self.history) <= alpha
            ):
                who = "all callers" if caller == TOTAL else _who(caller)
                found.append(
                    {
                        "type": "auth_failures",
                        "caller": caller,
                        **_about(caller),
                        "window_start": start,
                        "count": failures,
                        "usual": round(usual_fail, 2),
                        "message": f"{failures} failed authentications from {who} in "
                        f"{self.window_s:g} s (usually {usual_fail:.1f})",
                    }
                )
            usual_req = base_req / self.history
            if (
                caller != TOTAL
                and requests >= self.min_requests
                and requests >= 10 * usual_req
                and rate_increase_p(requests, base_req, self.history) <= alpha
            ):
                found.append(
                    {
                        "type": "request_rate",
                        "caller": caller,
                        **_about(caller),
                        "window_start": start,
                        "count": requests,
                        "usual": round(usual_req, 2),
                        "message": f"{requests} requests from {_who(caller)} in {self.window_s:g} s "
                        f"(usually {usual_req:.1f})",
                    }
                )
        return found


def _about(caller: str) -> dict[str, str | None]:
    """``key_id`` and ``client`` of a caller (``key:<id>``, ``addr:<address>`` or the total)."""
    kind, _, value = caller.partition(":")
    return {"key_id": value if kind == "key" else None, "client": value if kind == "addr" else None}


def _who(caller: str) -> str:
    kind, _, value = caller.partition(":")
    return f"API key {value!r}" if kind == "key" else f"client {value}"
