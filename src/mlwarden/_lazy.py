"""ibis, imported when a query is first built.

The store's queries are written in ibis, but a batch report answers its requests from Arrow
tables in place (``store/arrow_scan.py``) and never builds one: importing ibis and loading
its DuckDB backend (~0.3 s, a seventh of a 1M-row report) is left to the first query that
needs them. ``from mlwarden._lazy import ibis`` stands for ``import ibis`` in the store's
modules; type checkers see the real module.
"""

from __future__ import annotations

import importlib
import typing

__all__ = ["ibis"]


class LazyModule:
    """A module imported on its first attribute lookup; each attribute is then kept here, so
    later lookups are plain attribute reads.

    Examples
    --------
    >>> json = LazyModule("json")
    >>> json.dumps([1])
    '[1]'
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> typing.Any:
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


if typing.TYPE_CHECKING:
    import ibis
else:
    ibis = LazyModule("ibis")
