"""The rule of the LLM SDK: its own failures never reach the app.

Tracing code runs around the app's calls (the OpenAI wrapper, ``@trace``,
``start_span``), so a bug of ours, an odd response object, or a broken exporter
must cost a span at most, never the app's answer. Every such place runs its
own work under :func:`guard`: an exception is logged once per place (a warning
with the traceback; later ones at debug level) and counted in :data:`FAULTS`,
and the app's result or exception passes through untouched.

Examples
--------
>>> before = FAULTS.count_
>>> with guard("doctest"):
...     raise RuntimeError("a bug of ours")
>>> FAULTS.count_ - before
1
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

__all__ = ["FAULTS", "Faults", "guard"]

log = logging.getLogger("mlwarden.sdk.llm")


class Faults:
    """Counts the SDK's own failures (``count_``, and by place in ``by_place_``)."""

    def __init__(self) -> None:
        self.count_ = 0
        self.by_place_: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, place: str, exc: BaseException) -> None:
        with self._lock:
            self.count_ += 1
            first = place not in self.by_place_
            self.by_place_[place] = self.by_place_.get(place, 0) + 1
        if first:
            log.warning(
                "mlwarden tracing failed in %s (%s: %s); the app's call is not affected and "
                "further failures here are only counted (mlwarden.sdk.llm.sdk_errors())",
                place,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        else:
            log.debug("mlwarden tracing failed in %s: %r", place, exc)


#: The process's count of SDK-side failures (one process, one app: it lives as long as both).
FAULTS = Faults()


@contextlib.contextmanager
def guard(place: str) -> Iterator[None]:
    """Run the SDK's own work; an ``Exception`` from it is recorded, not raised."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the point: nothing of ours reaches the app
        FAULTS.record(place, exc)
