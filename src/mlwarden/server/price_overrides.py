"""Model prices set through the API (``PUT /v1/llm/prices/{model}``), kept across restarts.

The server's price table is the bundled and maintained prices plus the ``MLWARDEN_PRICES``
file (:func:`mlwarden.schema.pricing.load_prices`), plus these overrides, which win over
every other source. They are held per project (an admin key of one project cannot change what
another project's spans cost), stored as JSON in the data directory
(``price_overrides.json``; in memory only without one), and a change makes the app build that
project's price table again, so its next span is priced with it.

Examples
--------
>>> from mlwarden.schema.pricing import load_prices
>>> o = PriceOverrides(None)
>>> o.put("p", "Support-FT", {"input": "0.30", "output": "1.20"})
>>> t = o.applied(load_prices(maintained=False), "p")
>>> str(t.cost("support-ft", input_tokens=1_000_000, output_tokens=0).amount)
'0.3'
>>> o.models("other"), o.remove("p", "support-ft"), o.models("p")
({}, True, {})
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from mlwarden.errors import ConfigError, StorageError
from mlwarden.schema.pricing import PriceTable

__all__ = ["FILE_NAME", "PriceOverrides"]

FILE_NAME = "price_overrides.json"


class PriceOverrides:
    """Per-model prices (USD per million tokens, as decimal strings) set through the API;
    ``path``: where they are kept (None: in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, dict[str, str]]] = self._read()

    def _read(self) -> dict[str, dict[str, dict[str, str]]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the price overrides {str(self.path)!r}: {exc}") from exc
        projects = data.get("projects") if isinstance(data, dict) else None
        if not isinstance(projects, dict) or not all(
            isinstance(m, dict) for m in projects.values()
        ):
            raise ConfigError(
                f"The price overrides {str(self.path)!r} hold no 'projects' object of models."
            )
        return {
            str(p): {str(k): {str(f): str(v) for f, v in e.items()} for k, e in models.items()}
            for p, models in projects.items()
        }

    def _write(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"projects": self._projects}, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(
                f"Cannot write the price overrides {str(self.path)!r}: {exc}"
            ) from exc

    def models(self, project: str) -> dict[str, dict[str, str]]:
        """A project's model name -> its prices per million tokens (``input``, ``output``, and
        ``cache_read``, ``cache_write``, ``reasoning`` when set)."""
        with self._lock:
            return {k: dict(v) for k, v in sorted(self._projects.get(project, {}).items())}

    def put(self, project: str, model: str, prices: dict[str, str]) -> None:
        """Set (or replace) the prices of ``model`` (names are case-insensitive) in ``project``."""
        with self._lock:
            self._projects.setdefault(project, {})[model.strip().lower()] = dict(prices)
            self._write()

    def remove(self, project: str, model: str) -> bool:
        """Remove the override of ``model`` in ``project``; False when there was none."""
        with self._lock:
            found = self._projects.get(project, {}).pop(model.strip().lower(), None) is not None
            if found:
                if not self._projects[project]:
                    del self._projects[project]
                self._write()
            return found

    def applied(self, table: PriceTable, project: str) -> PriceTable:
        """``table`` with ``project``'s overrides in front of every source (its version gains
        ``api-<hash of the overrides>``); ``table`` itself when there are none."""
        models = self.models(project)
        if not models:
            return table
        raw = json.dumps(models, sort_keys=True).encode()
        data: dict[str, Any] = {"version": "api-" + hashlib.sha256(raw).hexdigest()[:10],
                                "models": models}  # fmt: skip
        return table.with_overrides(data, source="the prices API")
