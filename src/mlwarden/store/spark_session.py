"""A Spark session for mlwarden's aggregates, and the lake tables it reads.

The session is configured for the seam, not for the job: UTC session time (windows are UTC
instants), no console progress bars (the CLI shows its own), the driver bound to the host
the executors reach it on. Lake tables are read where a batch pipeline wrote them: a Parquet
(or Delta, ORC) directory or file, or a table name of the session's catalog (Hive metastore,
Iceberg), through Spark's own readers. Spark's errors are translated here into mlwarden's
(:class:`~mlwarden.errors.StorageError`, :class:`~mlwarden.errors.NotFoundError`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mlwarden.errors import ConfigError, NotFoundError, StorageError, expected

__all__ = ["read_lake", "spark_errors", "spark_session", "spark_session_for"]

T = TypeVar("T")

#: Spark's pandas check warns on pandas 3 though mlwarden reads Spark's results as Arrow
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_MASTER = re.compile(r"^(local(\[(\d+|\*)\])?|spark://[^/\s]+)$")
#: a catalog table name: ``name``, ``db.name`` or ``catalog.db.name``
_TABLE_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*){0,2}$")


def spark_session(
    master: str,
    *,
    app_name: str = "mlwarden",
    driver_host: str | None = None,
    executor_memory: str = "1g",
    conf: dict[str, str] | None = None,
) -> Any:
    """A SparkSession on ``master`` (``local[N]`` or ``spark://host:port``) set up for the
    aggregates: UTC session time, no console progress, few shuffle partitions.

    ``driver_host``: the address executors connect back to (``spark.driver.host``); a
    ``spark://127.0.0.1:...`` master defaults it to 127.0.0.1."""
    if not _MASTER.match(master):
        raise ConfigError(
            expected("option", "--spark-master", "be local[N] or spark://HOST:PORT", master)
        )
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "The Spark engine needs pyspark: pip install 'mlwarden[spark]' (and a Java 17+ "
            "runtime)."
        ) from exc
    host = driver_host or ("127.0.0.1" if "127.0.0.1" in master or "local" in master else None)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executor.memory", executor_memory)
        # ibis reads results through toPandas; Spark's Arrow path for it breaks on pandas 3
        # (results are a few rows per window: the row path costs nothing here)
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
        # few rows per window query: the default 200 shuffle partitions are 200 tiny tasks
        .config("spark.sql.shuffle.partitions", "8")
    )
    if host is not None:
        builder = builder.config("spark.driver.host", host).config("spark.driver.bindAddress", host)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    quiet_pandas_warning()
    with spark_errors(f"Starting a Spark session on {master}"):
        session = builder.getOrCreate()
    # Spark's failures reach the caller as exceptions (translated by spark_errors); its log
    # would print them again, and long code-generation fallbacks (a query past 64 KB of
    # generated Java runs interpreted) that are not failures at all
    session.sparkContext.setLogLevel("FATAL")
    return session


@contextmanager
def spark_session_for(master: str, **kwargs: Any) -> Iterator[Any]:
    """:func:`spark_session` for one command: stopped at the end unless the process had an
    active session already (an embedding application's, which stays its own)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        before = None
    else:
        before = SparkSession.getActiveSession()
    session = before if before is not None else spark_session(master, **kwargs)
    try:
        yield session
    finally:
        if before is None:
            session.stop()


def quiet_pandas_warning() -> None:
    """Silence the one warning Spark's pandas version check gives on every result (mlwarden
    reads results as Arrow; the warning is about pandas 3, which it does not use here)."""
    warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)


def read_lake(session: Any, location: str, *, field: str = "table") -> Any:
    """The Spark DataFrame of a lake table: a directory or file path (Parquet; Delta when the
    directory holds a ``_delta_log``; ORC when its name ends in ``.orc``), a URL Spark reads
    (``s3a://``, ``hdfs://``, ``file:``), or a table name of the session's catalog.
    ``field``: the option or argument that named it, for the error message."""
    local = location.removeprefix("file:")
    is_path = "://" in location or location.startswith("file:") or os.path.exists(local)
    if not is_path and not _TABLE_NAME.match(location):
        raise NotFoundError(
            expected("location", field, "be an existing path or a catalog table name", location)
        )
    with spark_errors(f"Reading {location}"):
        if not is_path:
            return session.read.table(location)
        if os.path.isdir(os.path.join(local, "_delta_log")):
            return session.read.format("delta").load(location)
        if location.endswith(".orc"):
            return session.read.orc(location)
        return session.read.parquet(location)


@contextmanager
def spark_errors(doing: str) -> Iterator[None]:
    """Spark's and py4j's errors as :class:`~mlwarden.errors.StorageError` (a missing path or
    table as :class:`~mlwarden.errors.NotFoundError`), with what was being done."""
    try:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
    except ImportError:  # pragma: no cover - the session could not have been made
        yield
        return
    try:
        yield
    except PySparkException as exc:
        cls = getattr(exc, "getCondition", lambda: None)() or ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if cls in ("PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND"):
            raise NotFoundError(f"{doing} failed: {first}") from exc
        raise StorageError(f"{doing} failed on Spark: {first}") from exc
    except Py4JError as exc:
        raise StorageError(f"{doing} failed on Spark: {type(exc).__name__}") from exc


def on_spark(doing: str, fn: Callable[[], T]) -> T:
    """``fn()`` with Spark's errors translated (:func:`spark_errors`)."""
    with spark_errors(doing):
        return fn()
