"""A reference holding numbers no event may hold (beyond ±1e150, or infinite).

Events with such values are rejected (a window's sums must stay finite). A reference with them
(often a sentinel such as 1e300 for "unknown") made ``mlwarden init`` fail with "The 'reference'
matrix must hold no infinite values" and overflowed the monitors' fit. Such rows are left out of
the reference, the same rule as for events, and the user is told how many and where.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.monitors.suite import MonitorSuite, auto_monitors
from mlwarden.schema.infer import infer_spec
from mlwarden.schema.limits import without_huge_rows
from serverproc import http_client


def table(n: int = 2000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    a[5], a[6], a[7] = 1e200, -np.inf, np.nan  # two out, the NaN is a missing value
    x = rng.normal(size=n)
    return pa.table(
        {
            "a": a,
            "b": rng.normal(size=n),
            "prediction": (x > 0).astype(int),
            "target": (x > 0).astype(int),
        }
    )


def test_rows_beyond_the_bound_are_left_out_and_counted() -> None:
    t = table()
    kept, out = without_huge_rows(t)
    assert out == {"a": 2} and kept.num_rows == t.num_rows - 2
    assert np.isnan(kept.column("a").to_numpy()).sum() == 1


def test_the_fit_is_finite_and_init_says_what_it_left_out(tmp_path: Path) -> None:
    t = table()
    inf = infer_spec(t, name="m")
    (note,) = [n for n in inf.notes if "left out" in n]
    assert "2 in 'a'" in note
    suite = MonitorSuite("m", auto_monitors(inf.spec)).fit(inf.spec, t)
    assert not [s for s in suite.skipped if "infinite" in s.reason], suite.skipped
    path = tmp_path / "ref.parquet"
    pq.write_table(t, path)
    r = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         "from mlwarden.cli.main import main; raise SystemExit(main())",
         "init", str(path), "--dry-run"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "left out" in r.stdout + r.stderr and "multivariate_drift" in r.stdout


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with http_client(tmp_path_factory.mktemp("bounds") / "data", "--evaluate-every", "0") as client:
        yield client


def test_upload_leaves_them_out_and_says_so(http: httpx.Client) -> None:
    sink = io.BytesIO()
    pq.write_table(table(), sink)
    parquet = {"content-type": "application/vnd.apache.parquet"}
    r = http.post("/v1/models/m/reference", params={"create": "true"}, content=sink.getvalue(),
                  headers=parquet)  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rows"] == 1998 and body["monitors"], body
    assert any("2 reference row(s) left out" in n and "'a'" in n for n in body["notes"]), body
    r = http.post("/v1/models/m/reference", content=sink.getvalue(), headers=parquet)
    assert r.status_code == 201 and r.json()["rows"] == 1998, r.text
    assert any("left out" in n for n in r.json()["notes"])
