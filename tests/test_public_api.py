"""The public surface is curated: ``mlwarden.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import mlwarden


def test_all_is_sorted_complete_and_importable() -> None:
    names = mlwarden.__all__
    assert list(names) == sorted(names)
    public = {
        n
        for n in vars(mlwarden)
        if not n.startswith("_") and not isinstance(getattr(mlwarden, n), type(mlwarden))
    }
    assert public <= set(names) | {"annotations"}, public - set(names)
    for n in names:
        assert hasattr(mlwarden, n)


def test_the_sdk_imports_without_the_engine_or_the_statistics() -> None:
    """A model server that imports mlwarden for its SDK does not load DuckDB, ibis, scipy or
    the monitors (the names of the package are imported on first use)."""
    import subprocess
    import sys

    code = (
        "import sys, mlwarden; mlwarden.init; mlwarden.Monitor; mlwarden.ASGIMiddleware; "
        "print(sorted(m for m in ('duckdb', 'ibis', 'scipy', 'sklearn', 'pandas', "
        "'mlwarden.monitors', 'mlwarden.store') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_report_is_the_function_whatever_was_imported_first() -> None:
    import mlwarden.reporting.batch

    assert callable(mlwarden.report)
    assert mlwarden.report is mlwarden.reporting.batch.report
    assert mlwarden.Report.__name__ == "Report"
    try:
        mlwarden.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_a_batch_report_does_not_import_the_query_builder() -> None:
    """A batch report answers its requests from the Arrow events in place: ibis and its SQL
    compiler (~0.3 s of imports) stay unloaded, while a query on the same store loads them."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pyarrow as pa, mlwarden\n"
        "rng = np.random.default_rng(0)\n"
        "ref = pa.table({'x': rng.normal(size=3000), 'c': rng.choice(['a', 'b'], 3000)})\n"
        "cur = pa.table({'x': rng.normal(0.5, 1, size=3000), 'c': rng.choice(['a', 'b'], 3000)})\n"
        "r = mlwarden.report(ref, cur)\n"
        "print(r.status.value, [m for m in ('ibis', 'sqlglot') if m in sys.modules])\n"
        "from mlwarden.store.duckdb_engine import DuckDBStore\n"
        "store = DuckDBStore(':memory:')\n"
        "store.create_model('p', r.spec)\n"
        "print(store.events(store.get_model('p', r.spec.name)).count().execute(), "
        "'ibis' in sys.modules)\n"
        "store.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["alert []", "0 True"], out.stdout + out.stderr
