"""One lock per key, held by the object that owns them (a store), never a module global.

>>> locks = KeyedLocks()
>>> with locks.hold(("p", "m")):
...     locks.held(("p", "m"))
True
>>> locks.held(("p", "m"))
False
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

__all__ = ["KeyedLocks"]


class KeyedLocks:
    """A lock per key, made on first use; as many as there are keys (a store's models)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        with self._lock(key):
            yield

    def held(self, key: Hashable) -> bool:
        return self._lock(key).locked()
