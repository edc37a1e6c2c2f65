"""ibis' PySpark backend, reading results as Arrow.

ibis reads a PySpark result through ``toPandas`` and converts it to Arrow: on pandas 3 every
result warns (pyspark 4.x passes a ``copy`` keyword pandas deprecated) and Spark's Arrow
route for ``toPandas`` fails outright. The aggregates want Arrow anyway, and pyspark 4 hands
it over directly (``DataFrame.toArrow``), so :meth:`ArrowBackend.to_pyarrow` does that: no
pandas between Spark and the numbers, one conversion fewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ibis.backends.pyspark import Backend
from ibis.formats.pyarrow import PyArrowData

__all__ = ["ArrowBackend", "connect"]


class ArrowBackend(Backend):  # type: ignore[misc]  # ibis is untyped here
    """ibis' PySpark backend with results collected as Arrow (``DataFrame.toArrow``)."""

    def to_pyarrow(
        self,
        expr: Any,
        /,
        *,
        params: Mapping[Any, Any] | None = None,
        limit: int | str | None = None,
        **kwargs: Any,
    ) -> Any:
        # in-memory tables (ibis.memtable) are registered with the session by these hooks
        self._run_pre_execute_hooks(expr)
        table_expr = expr.as_table()
        sql = self.compile(table_expr, params=params, limit=limit, **kwargs)
        arrow = self.raw_sql(sql).toArrow()
        table = PyArrowData.convert_table(arrow, table_expr.schema())
        return expr.__pyarrow_result__(table)


def connect(session: Any) -> ArrowBackend:
    """The backend over ``session`` (which it sets to UTC, as ibis' own does)."""
    import ibis

    _ = ibis.pyspark  # loading it by name registers its options (ibis.options.pyspark)
    backend = ArrowBackend()
    backend.do_connect(session)
    return backend
