"""The server's price tables: the shared one (read once, when first needed) and each
project's, with the overrides set through the API in front (built once, again after a
change of its overrides)."""

from __future__ import annotations

import os
import threading

from mlwarden.schema.pricing import PRICES_ENV, PriceTable, load_prices
from mlwarden.server.price_overrides import PriceOverrides

__all__ = ["Prices"]


class Prices:
    """The price tables of one server; ``overrides``: the prices set through the API.

    Examples
    --------
    >>> p = Prices(PriceOverrides(None), maintained=False)
    >>> p.of("a") is p.of("a"), p.of() is p.of()
    (True, True)
    >>> p.overrides.put("a", "m-1", {"input": "1", "output": "2"})
    >>> str(p.forget("a").cost("m-1", input_tokens=1_000_000, output_tokens=0).amount)
    '1'
    >>> p.of("b").cost("m-1", input_tokens=1, output_tokens=0) is None
    True
    """

    def __init__(self, overrides: PriceOverrides, *, maintained: bool = True) -> None:
        self.overrides = overrides
        self.maintained = maintained
        self._lock = threading.Lock()
        self._shared: PriceTable | None = None
        self._projects: dict[str, PriceTable] = {}

    def of(self, project: str | None = None) -> PriceTable:
        """The shared table (``project`` None), or ``project``'s with its overrides."""
        with self._lock:
            if self._shared is None:
                path = os.environ.get(PRICES_ENV) or None
                self._shared = load_prices(path, maintained=self.maintained)
            if project is None:
                return self._shared
            out = self._projects.get(project)
            if out is None:
                out = self._projects[project] = self.overrides.applied(self._shared, project)
            return out

    def forget(self, project: str) -> PriceTable:
        """Build ``project``'s table again (after a change of its overrides) and return it."""
        with self._lock:
            self._projects.pop(project, None)
        return self.of(project)
