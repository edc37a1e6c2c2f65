"""Tabular data into Arrow: DataFrames (pandas, polars), Arrow tables and files.

Imports pyarrow and nothing of mlwarden's heavier parts, so a command can start reading
its files before the monitors, the statistics and the engine are imported.
"""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlwarden.errors import SchemaError, expected

__all__ = ["arrow_without_pandas", "to_arrow"]


def arrow_without_pandas() -> None:
    """Keep pyarrow from importing pandas on its first conversion, in a process that holds no
    pandas object (a command reading its data from files).

    pyarrow imports pandas the first time it converts anything (``pa.array([1])``, a compute
    function given a Python number) to learn whether an input could be a pandas object:
    0.2-0.5 s of a set-up that never uses pandas. Here pyarrow's first look for pandas finds
    none, and it remembers that; a later ``to_pandas()`` still imports pandas then. Nothing
    is done once pandas is imported (the process may hold its objects). Call it only in
    such a process: afterwards pyarrow no longer recognises pandas objects it is given.
    """
    if "pandas" in sys.modules:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)  # "import pandas" fails while pyarrow first looks
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas(importlib.abc.MetaPathFinder):
    """A finder that fails the import of pandas (and only of pandas)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "pandas":
            raise ModuleNotFoundError("pandas is not imported here", name=fullname)
        return None


def to_arrow(data: Any, *, role: str = "reference") -> pa.Table:
    """Turn a DataFrame (pandas, polars), Arrow table/batch, or CSV/Parquet path into Arrow.

    ``role`` names the data in errors ("The current file ... does not exist.").

    Examples
    --------
    >>> to_arrow(pa.table({"x": [1, 2]})).num_rows
    2
    >>> to_arrow("missing.parquet", role="current")
    Traceback (most recent call last):
    ...
    mlwarden.errors.SchemaError: The current file 'missing.parquet' does not exist.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, str | Path):
        return _read(Path(data), role)
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise SchemaError(
        "The data must be a pandas or polars DataFrame, a pyarrow Table, or a CSV/Parquet path. "
        f"Got {type(data).__name__} instead."
    )


def _read(path: Path, role: str) -> pa.Table:
    if not path.exists():
        raise SchemaError(f"The {role} file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            # the file's reader itself: read_table goes through pyarrow.dataset, whose
            # import alone measured 0.3-0.6 s
            if path.is_dir():  # a partitioned data set
                return pq.read_table(path)
            # pre_buffer (the default) reads the whole file into one buffer first: 0.3 s
            # for a 1M x 25 file here against 0.1 s read column by column
            with pq.ParquetFile(path, pre_buffer=False) as f:
                return f.read(use_threads=True)
        if suffix in (".csv", ".tsv", ".txt") or suffix == ".gz":
            import pyarrow.csv as pacsv

            opts = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(path, parse_options=opts)
        if suffix in (".arrow", ".feather", ".ipc"):
            import pyarrow.feather as feather

            return feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"The {role} file {str(path)!r} could not be read: {exc}") from exc
    raise SchemaError(
        expected(
            "file suffix", suffix or str(path), "be one of .parquet, .csv, .tsv, .arrow", suffix
        )
    )
