"""The ClickHouse event engine's connection glue: clients from a URL, the exact-quantile ibis
compiler, literals and the translation of ClickHouse's errors.

Two kinds of URL name an event store (``--events``):

* ``clickhouse://user:password@host:8123/db`` (``clickhouses://`` for TLS): a ClickHouse
  server over HTTP, through ``clickhouse-connect``;
* ``chdb:///path/to/dir?database=db``: ClickHouse's own engine in this process (``chdb``),
  for tests and single-machine use. chDB runs ONE engine per process, on one directory:
  every store of a process must name the same directory (each in its own database).

Times are stored as ``DateTime64(6)`` read and written in UTC (the session's time zone is set
to UTC whatever the server's), so they come back as the naive UTC times the other engines
hand out.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from mlwarden.errors import ConfigError, StoreOpenError, expected

__all__ = [
    "EVENT_URL_SCHEMES",
    "ClickHouseTarget",
    "exact_backend",
    "first_line",
    "is_events_url",
    "q",
    "ts_literal",
]

#: The URL schemes ``--events`` takes.
EVENT_URL_SCHEMES = ("chdb://", "clickhouse://", "clickhouses://")

#: Session settings every client runs with: times in UTC whatever the server's zone.
SETTINGS: dict[str, Any] = {"session_timezone": "UTC"}


def is_events_url(where: object) -> bool:
    """Whether ``where`` names a ClickHouse event store.

    >>> is_events_url("chdb:///var/lib/mlw/ch"), is_events_url("postgresql://db/x")
    (True, False)
    """
    return isinstance(where, str) and where.startswith(EVENT_URL_SCHEMES)


class ClickHouseTarget:
    """Where a URL points: an in-process chDB directory or a server, and the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlparse(url)
        self.chdb = parsed.scheme == "chdb"
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if self.chdb:
            self.path = unquote(parsed.path) if not parsed.netloc else ""
            if not self.path:
                raise ConfigError(
                    expected("option", "--events", "name a directory (chdb:///path)", url)
                )
            self.database = query.get("database", "mlwarden")
            self.host, self.port, self.user, self.password = "", 0, "", ""
            self.secure = False
        else:
            self.path = ""
            self.database = unquote(parsed.path.strip("/")) or "mlwarden"
            self.host = parsed.hostname or "localhost"
            self.secure = parsed.scheme == "clickhouses"
            self.port = parsed.port or (8443 if self.secure else 8123)
            self.user = unquote(parsed.username or "default")
            self.password = unquote(parsed.password or "")
        if not self.database.replace("_", "").isalnum():
            raise ConfigError(
                expected("database of", "--events", "be letters, digits and _", self.database)
            )

    def where(self) -> str:
        """The URL without its password, for messages."""
        if self.chdb:
            return f"chdb://{self.path} (database {self.database})"
        return f"clickhouse://{self.host}:{self.port}/{self.database}"

    def client(self, *, database: str | None = None) -> Any:
        """A new ``clickhouse-connect`` client (one per thread: a client runs one query at a
        time)."""
        try:
            import clickhouse_connect
        except ImportError as exc:  # pragma: no cover - the extra is not installed
            raise ConfigError(
                "The ClickHouse event engine needs clickhouse-connect (and chdb for chdb:// "
                "URLs): pip install 'mlwarden[clickhouse]'."
            ) from exc
        try:
            if self.chdb:
                with _CHDB_LOCK:
                    return clickhouse_connect.get_client(
                        interface="chdb", path=self.path, database=database, settings=SETTINGS
                    )
            return clickhouse_connect.get_client(
                host=self.host,
                port=self.port,
                username=self.user,
                password=self.password,
                secure=self.secure,
                database=database or "default",
                settings=SETTINGS,
                autogenerate_session_id=False,
            )
        except Exception as exc:  # clickhouse-connect and chdb raise several types
            raise StoreOpenError(
                f"Cannot open the ClickHouse event store {self.where()}: {first_line(exc)}"
            ) from exc


#: chDB's engine starts once per process; two threads opening it at once must not race
_CHDB_LOCK = threading.Lock()


def first_line(exc: BaseException) -> str:
    """ClickHouse's message without the stack trace it appends.

    >>> first_line(RuntimeError("Code: 36. Not a directory, Stack trace (when ...):\\n0. x"))
    'Code: 36. Not a directory'
    """
    text = str(exc).split(", Stack trace", 1)[0].split(" Stack trace:", 1)[0]
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def q(name: str) -> str:
    """A quoted ClickHouse identifier.

    >>> q("events_3"), q("a`b")
    ('`events_3`', '`a\\\\`b`')
    """
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def ts_literal(t: datetime) -> str:
    """A naive UTC time as a ``DateTime64(6)`` literal, microseconds kept.

    >>> ts_literal(datetime(2026, 3, 1, 12, 0, 0, 250))
    "toDateTime64('2026-03-01 12:00:00.000250', 6, 'UTC')"
    """
    return f"toDateTime64('{t.strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, 'UTC')"


def exact_backend(client: Any, *, chdb: bool) -> Any:
    """An ibis ClickHouse backend over ``client`` whose quantiles are exact.

    ibis compiles ``quantile`` to ClickHouse's ``quantile``, which samples 8,192 values per
    group (reservoir sampling: approximate above that size); monitors promise exact
    quantiles, so this backend's compiler emits ``quantileExactInclusive`` (the same
    neighbours and interpolation as DuckDB's ``quantile_cont`` and PostgreSQL's
    ``percentile_cont``) and ``median`` as its 0.5; distinct counts are ``uniqExact``, not
    ibis' estimating ``uniq``. ``chdb``: the in-process engine, which
    takes no external data: the small in-memory tables some aggregates join with are made
    ``Memory`` tables for the query's time.
    """
    be = _classes()[1 if chdb else 0].from_connection(client)
    be.compiler = _classes()[2]
    return be


_CLASSES: list[Any] = []


def _classes() -> list[Any]:
    """The backend classes and the compiler instance, built on first use (with ibis)."""
    if _CLASSES:
        return _CLASSES
    import ibis.expr.operations as ops
    import sqlglot.expressions as sge
    from ibis.backends.clickhouse import Backend
    from ibis.backends.sql.compilers.clickhouse import ClickHouseCompiler

    class ExactClickHouseCompiler(ClickHouseCompiler):  # type: ignore[misc]
        # a simple op would be given its generated visitor back: median is not one here;
        # ibis' `uniq` for a distinct count is an estimate above 65,536 values (200,180 ids
        # counted among 200,000): counts are exact on every engine
        SIMPLE_OPS = {
            **{k: v for k, v in ClickHouseCompiler.SIMPLE_OPS.items() if k is not ops.Median},
            ops.CountDistinct: "uniqExact",
        }

        def visit_Quantile(self, op: Any, *, arg: Any, quantile: Any, where: Any) -> Any:
            return self._visit_quantile("quantileExactInclusive", arg, quantile, where)

        def visit_MultiQuantile(self, op: Any, *, arg: Any, quantile: Any, where: Any) -> Any:
            return self._visit_quantile("quantilesExactInclusive", arg, quantile, where)

        def visit_Median(self, op: Any, *, arg: Any, where: Any) -> Any:
            return self._visit_quantile("quantileExactInclusive", arg, sge.convert(0.5), where)

    class ChdbBackend(Backend):  # type: ignore[misc]
        """Memtables as ``Memory`` tables of the client's database, dropped after the query
        (their names are unique per memtable)."""

        def _collect_in_memory_tables(self, expr: Any, external_tables: Any = None) -> Any:
            made: list[str] = self.__dict__.setdefault("_made", [])
            tables = super()._collect_in_memory_tables(expr, external_tables)
            mapper = self.compiler.type_mapper
            for name, op in tables.items():
                cols = ", ".join(
                    f"{q(c)} {mapper.to_string(t.copy(nullable=not t.is_nested()))}"
                    for c, t in op.schema.items()
                )
                self.con.command(f"CREATE TABLE IF NOT EXISTS {q(name)} ({cols}) ENGINE = Memory")
                made.append(name)
                self.con.insert_arrow(name, op.data.to_pyarrow(op.schema))
            return {}

        def _drop_made(self) -> None:
            made: list[str] = self.__dict__.get("_made", [])
            while made:
                self.con.command(f"DROP TABLE IF EXISTS {q(made.pop())}")

        def to_pyarrow(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().to_pyarrow(*args, **kwargs)
            finally:
                self._drop_made()

        def execute(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().execute(*args, **kwargs)
            finally:
                self._drop_made()

    _CLASSES.extend([Backend, ChdbBackend, ExactClickHouseCompiler()])
    return _CLASSES
