"""The monitor kinds' registry: kinds declared by module and imported on first lookup, every
declaration agreeing with the classes, and a tabular set-up importing only what it uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlwarden.monitors as monitors_pkg
from mlwarden._registry import Registry
from mlwarden.errors import ConfigError, ConflictError
from mlwarden.monitors import KINDS, MONITORS
from mlwarden.stats import classification as cl
from mlwarden.stats.probing import (
    collision_rate,
    collision_rate_columns,
    quantize,
    quantize_columns,
)

PACKAGE = Path(monitors_pkg.__file__).parent
SRC = PACKAGE.parent.parent


def test_every_declared_kind_is_registered_by_its_module() -> None:
    for kind, module in KINDS.items():
        cls = MONITORS.get(kind)
        assert cls.kind == kind
        assert cls.__module__ == f"mlwarden.monitors.{module}"


def test_every_module_registering_a_kind_is_declared() -> None:
    """A new kind's file needs its line in KINDS, or a set-up never imports it."""
    registering = {
        p.stem
        for p in PACKAGE.glob("*.py")
        if re.search(r"^@MONITORS\.register", p.read_text(), re.MULTILINE)
    }
    assert registering, "no kind module found"
    assert registering <= set(KINDS.values()), registering - set(KINDS.values())
    assert set(MONITORS.keys()) >= set(KINDS)


def test_a_declared_kind_counts_before_its_import_and_is_imported_on_lookup() -> None:
    things: Registry[type] = Registry("thing")
    things.declare("json_thing", "json")
    assert "json_thing" in things and things.keys() == ["json_thing"] and len(things) == 1
    # the module does not register the kind: a clear error, not a KeyError
    with pytest.raises(ConfigError, match="registered no thing of kind 'json_thing'"):
        things.get("json_thing")
    with pytest.raises(ConflictError, match="declared already in json"):
        things.declare("json_thing", "csv")
    with pytest.raises(ConfigError, match="must be one of json_thing. Got 'nope'"):
        things.get("nope")


def test_declaring_a_registered_kind_from_another_module_conflicts() -> None:
    things: Registry[type] = Registry("thing")

    @things.register
    class Here:
        kind = "here"

    things.declare("here", __name__)  # its own module: nothing to do
    assert things.get("here") is Here
    with pytest.raises(ConflictError, match="registered already from"):
        things.declare("here", "somewhere.else")


def _setup_reference(path: Path, n: int = 600) -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(n) < 0.4).astype(np.int64)
    score = 1 / (1 + np.exp(-(2 * (y - 0.5) + rng.normal(size=n))))
    pq.write_table(
        pa.table(
            {
                "f0": rng.normal(y * 0.5, 1.0),
                "f1": rng.normal(size=n),
                "f2": rng.normal(size=n),
                "clinic": rng.choice(["north", "south"], n),
                "prediction": (score > 0.5).astype(np.int64),
                "score": score,
                "malignant": y,
            }
        ),
        path,
    )


#: Runs ``mlwarden init`` in this interpreter, then says which modules it imported.
_INIT = """
import json, sys
from mlwarden.cli.main import main
code = main(["init", sys.argv[1], "--dry-run", "--segment", "clinic"])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_a_tabular_init_imports_no_llm_kind_no_duckdb_and_no_pandas(tmp_path: Path) -> None:
    ref = tmp_path / "ref.parquet"
    _setup_reference(ref)
    r = subprocess.run(
        [sys.executable, "-c", _INIT, str(ref)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] == 0
    modules = set(out["modules"])
    assert "multivariate_drift" in r.stdout and "performance:f1" in r.stdout  # the plan printed
    llm_kinds = {f"mlwarden.monitors.{m}" for m in KINDS.values() if m.startswith("llm_")}
    llm_kinds -= {"mlwarden.monitors.llm_embedding_drift"}  # text drift's base class
    unwanted = llm_kinds | {
        "mlwarden.stats.injection_patterns",
        "mlwarden.stats.pii",
        "mlwarden.store.duckdb_engine",
        "duckdb",
        "pandas",
        "mlwarden.sdk",
    }
    assert not unwanted & modules, sorted(unwanted & modules)
    assert "mlwarden.monitors.performance" in modules  # what it uses, it imports


#: pyarrow told once that pandas is absent: conversions work without it, to_pandas imports it.
_NO_PANDAS = """
import importlib.util, sys
import pyarrow as pa, pyarrow.compute as pc
from mlwarden.tables import arrow_without_pandas
arrow_without_pandas()
t = pa.table({"x": [1.0, 2.0, None]})
total = pc.sum(pc.greater(t.column("x"), 1.5)).as_py()
before = "pandas" in sys.modules
has = importlib.util.find_spec("pandas") is not None
df = t.to_pandas() if has else None
print(total, before, has, df is None or len(df) == 3)
"""


def test_arrow_without_pandas_converts_without_importing_it(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", _NO_PANDAS],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    total, before, _has, ok = r.stdout.split()
    assert (total, before, ok) == ("1", "False", "True")


def test_performance_bootstrap_matches_per_draw_confusion_matrices() -> None:
    """The vectorised bootstrap gives what the metric of each draw's confusion matrix gives."""
    from mlwarden.monitors.context import Calibration, FitContext
    from mlwarden.monitors.performance import BOOT_REPS, BOOT_ROWS, Performance
    from mlwarden.schema.infer import infer_spec

    rng = np.random.default_rng(5)
    n = 3000
    y = (rng.random(n) < 0.3).astype(np.int64)
    p = np.where(rng.random(n) < 0.8, y, 1 - y)
    table = pa.table({"x": rng.normal(size=n), "prediction": p, "target": y})
    spec = infer_spec(table, name="m", target="target", prediction="prediction").spec
    ctx = FitContext(spec, table, Calibration())
    ys, ps = y.astype(str), p.astype(str)
    for metric, fn in (
        ("accuracy", cl.accuracy),
        ("f1", lambda cc: cl.f1(cc, pos_label="1", zero_division=0.0)),
        ("precision", lambda cc: cl.precision(cc, pos_label="1", zero_division=0.0)),
        ("recall", lambda cc: cl.recall(cc, pos_label="1", zero_division=0.0)),
    ):
        mon = Performance(metric).fit(ctx)
        draws = np.random.default_rng(0).integers(0, n, (BOOT_REPS, min(BOOT_ROWS, n)))
        boots = [fn(cl.ConfusionCounts.from_arrays(ys[d], ps[d])) for d in draws]
        assert mon.sd_per_row_ == float(np.std(boots) * np.sqrt(min(BOOT_ROWS, n))), metric


def test_collision_rate_by_columns_is_the_rate_of_the_rows() -> None:
    rng = np.random.default_rng(2)
    cols = [np.round(rng.normal(size=4000), 1) for _ in range(3)]
    cols[0][::7] = np.nan
    cols[1][::5] = -0.0
    lows, steps = [-3.0] * 3, [0.1] * 3
    by_rows = collision_rate(quantize(cols, lows, steps))
    assert collision_rate_columns(quantize_columns(cols, lows, steps), rows=4000) == by_rows
    assert 0 < by_rows < 1
