"""Continuous quantiles on PostgreSQL that equal DuckDB's bit for bit, for every ibis query.

Both engines interpolate between the sorted values at ``floor((n-1)q)`` and
``ceil((n-1)q)``, but PostgreSQL's ``percentile_cont`` computes ``lo + (hi-lo)*d`` and DuckDB
``lo*(1-d) + hi*d``: the last bit differs in about one window in seven (see
:mod:`.pg_volumes`). The aggregates of the LLM pages and monitors (:mod:`.span_aggregates`,
:mod:`.llm_breakdown`) are portable ibis code calling ``.quantile(q)``; so that they give the
same numbers on both engines, the engine's ibis backend compiles a numeric ``Quantile`` to
``mlwarden_quantile_cont(array_agg(x ORDER BY x), q)``: PostgreSQL sorts (as for its own
``percentile_cont``) and the SQL function :data:`FUNCTION_DDL` creates interpolates as DuckDB.

The same compiler casts a boolean to ``bigint`` through ``int`` (PostgreSQL has no direct
cast), which the span counts (``flag.cast("int64").sum()``) need.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["FUNCTION_DDL", "compiler"]

#: DuckDB's interpolation over a sorted array (NULL for an empty or NULL array).
FUNCTION_DDL = [
    """CREATE OR REPLACE FUNCTION mlwarden_quantile_cont(s DOUBLE PRECISION[], q DOUBLE PRECISION)
    RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN d = 0 THEN lo ELSE lo * (1 - d) + hi * d END
        FROM (SELECT s[floor(rn)::int + 1] AS lo, s[ceil(rn)::int + 1] AS hi,
                     rn - floor(rn) AS d
              FROM (SELECT (cardinality(s) - 1) * q AS rn) r) p
    $$""",
]


def compiler() -> Any:
    """A new ibis compiler for one of the engine's backends."""
    return _compiler_class()()


@functools.cache
def _compiler_class() -> Any:
    """The compiler's class, made on first use (ibis is imported lazily)."""
    import sqlglot.expressions as sge
    from ibis.backends.sql.compilers.postgres import PostgresCompiler
    from ibis.expr import datatypes as dt
    from ibis.expr import operations as ops

    class DuckDBQuantiles(PostgresCompiler):  # type: ignore[misc]
        """Postgres' SQL, with continuous quantiles interpolated as DuckDB does and booleans
        cast to any integer type."""

        def visit_Quantile(self, op: Any, *, arg: Any, quantile: Any, where: Any) -> Any:
            if type(op) is not ops.Quantile or not op.arg.dtype.is_numeric():
                return super().visit_Quantile(op, arg=arg, quantile=quantile, where=where)
            cond = arg.is_(sge.not_(sge.null()))
            if where is not None:
                cond = sge.And(this=cond, expression=where)
            value = self.cast(arg, dt.float64)
            values = self.agg.array_agg(
                sge.Order(this=value, expressions=[sge.Ordered(this=value)]), where=cond
            )
            return self.f.mlwarden_quantile_cont(values, self.cast(quantile, dt.float64))

        def visit_Cast(self, op: Any, *, arg: Any, to: Any) -> Any:
            # PostgreSQL casts a boolean to integer, not to bigint: through int (as ibis' own
            # sum of booleans does), so ``flag.cast("int64").sum()`` counts as on DuckDB
            if op.arg.dtype.is_boolean() and to.is_integer() and not to.is_int32():
                return self.cast(self.cast(arg, dt.int32), to)
            return super().visit_Cast(op, arg=arg, to=to)

    return DuckDBQuantiles
