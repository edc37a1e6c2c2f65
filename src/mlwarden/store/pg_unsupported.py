"""The parts of the store the PostgreSQL engine does not implement yet.

Each method raises :class:`~mlwarden.errors.UnsupportedByEngineError` naming itself, so a
caller learns what is missing instead of getting a wrong answer. What is here is what
``docs/storage.md`` lists as not yet on PostgreSQL; a protocol leaves this file whole when the
engine implements it (and adds it to :attr:`PostgresStore.protocols`, which runs its contract
suite).
"""

from __future__ import annotations

from typing import Any, NoReturn

from mlwarden.errors import UnsupportedByEngineError
from mlwarden.store.base import Store

__all__ = ["PgUnsupported"]


def _unsupported(method: str) -> NoReturn:
    raise UnsupportedByEngineError(
        f"The postgres engine does not implement {method!r} yet; use the duckdb engine for it "
        "(docs/storage.md lists what PostgreSQL stores)."
    )


class PgUnsupported(Store):
    """Store methods of protocols the PostgreSQL engine does not claim."""

    # -- SpanLog -------------------------------------------------------------
    def append_metric_points(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("append_metric_points")

    def append_span_logs(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("append_span_logs")

    def append_spans(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("append_spans")

    def fill_span_texts(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("fill_span_texts")

    def metric_points(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("metric_points")

    def put_scores(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("put_scores")

    def scores(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("scores")

    def set_span_costs(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("set_span_costs")

    def span_logs(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("span_logs")

    def spans(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("spans")

    # -- probes and SLOs (store/duckdb_slo.py) --------------------------------
    def put_probe(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("put_probe")

    def delete_probe(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("delete_probe")

    def list_probes(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("list_probes")

    def append_probe_results(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("append_probe_results")

    def probe_results(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("probe_results")

    def last_probe_runs(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("last_probe_runs")

    def put_slos(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("put_slos")

    def list_slo_specs(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("list_slo_specs")

    def slo_counts(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("slo_counts")

    def slo_series(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unsupported("slo_series")
