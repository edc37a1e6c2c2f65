"""The storage seam of synthetic probes and SLOs (:class:`~mlwarden.store.protocols.Probes`).

Every :class:`~mlwarden.store.base.Store` has these methods, so callers type against the
store; an engine that does not keep probes and SLOs leaves them here, and each raises
:class:`~mlwarden.errors.UnsupportedByEngineError` naming itself (DuckDB implements them in
``store/duckdb_slo.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, NoReturn

from mlwarden.errors import UnsupportedByEngineError

__all__ = ["SloStorage"]


class SloStorage:
    """Probes, their results and each model's SLOs; not implemented unless an engine does."""

    kind: ClassVar[str]

    def _no_slos(self, method: str) -> NoReturn:
        raise UnsupportedByEngineError(
            f"The {self.kind} engine does not implement {method!r} yet; use the duckdb engine "
            "for probes and SLOs."
        )

    def put_probe(self, project: str, model: str, name: str, spec: str) -> None:
        """Create or replace a probe (``spec`` its JSON)."""
        self._no_slos("put_probe")

    def delete_probe(self, project: str, model: str, name: str) -> bool:
        """Remove a probe and its results; whether it existed."""
        self._no_slos("delete_probe")

    def list_probes(
        self, project: str | None = None, model: str | None = None
    ) -> list[tuple[str, str, str, str]]:
        """(project, model, name, spec JSON) of the probes, by project, model and name."""
        self._no_slos("list_probes")

    def append_probe_results(self, project: str, model: str, rows: Sequence[dict[str, Any]]) -> int:
        """Store probe results; how many."""
        self._no_slos("append_probe_results")

    def probe_results(
        self, project: str, model: str, *, probe: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The latest results, newest first."""
        self._no_slos("probe_results")

    def last_probe_runs(self, project: str, model: str) -> dict[str, datetime]:
        """Each probe's latest result time (aware UTC)."""
        self._no_slos("last_probe_runs")

    def put_slos(self, project: str, model: str, spec: str) -> None:
        """Set a model's SLO list (``spec`` its JSON)."""
        self._no_slos("put_slos")

    def list_slo_specs(self, project: str | None = None) -> list[tuple[str, str, str]]:
        """(project, model, spec JSON) of every model with SLOs declared."""
        self._no_slos("list_slo_specs")

    def slo_counts(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        until: datetime,
        windows: Sequence[timedelta],
    ) -> dict[timedelta, tuple[int, int]]:
        """(bad, total) in each window ending at ``until`` (its end included)."""
        self._no_slos("slo_counts")

    def slo_series(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        since: datetime,
        until: datetime,
        step: timedelta,
    ) -> list[tuple[datetime, int, int]]:
        """(bucket start, bad, total) per ``step`` from ``since`` to ``until``."""
        self._no_slos("slo_series")
