"""The monitors' 60-day drift scenario on DuckDB and on ClickHouse (chDB, events under a
DuckDB catalog): every monitor, segment and window gives the same status, and the same value
(exact ones exactly, floats within 1e-9 relative).

Credit scores shift from day 40 in the north; accuracy drops from day 43. A smaller volume
than the monitors' own scenario test, and the windows from day 34 on (the onset and three
weeks after), keep it quick: the comparison is between engines on the same events, not of the
monitors' power.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.monitors.service import evaluate_range, setup_suite
from mlwarden.store import DuckDBStore, Store, open_store
from monitors.conftest import load, load_resources, spec_of

SCENARIO = Scenario(days=60, events_per_day=400, drift_start_day=40, seed=0)


def _run(store: Store) -> dict[tuple[Any, ...], dict[str, Any]]:
    sim = Simulation(SCENARIO)
    spec = spec_of(sim)
    model = store.create_model("p", spec)
    store.put_reference("p", spec.name, sim.reference())
    load(store, model, sim, labels_until_day=SCENARIO.days)
    load_resources(store, model, sim)
    setup_suite(store, "p", spec.name, cadence="1d")
    start = SCENARIO.start
    evaluate_range(
        store, "p", spec.name, start + timedelta(days=34), start + timedelta(days=SCENARIO.days)
    )
    rows = store.results().to_pyarrow().to_pylist()
    return {(r["monitor"], r["segment"], r["window_start"]): r for r in rows}


@pytest.mark.slow
def test_the_drift_scenario_gives_the_same_alerts(chdb_url: Callable[[str], str]) -> None:
    duck = DuckDBStore(":memory:")
    ch = open_store(None, events=chdb_url("scenario"))
    try:
        want, got = _run(duck), _run(ch)
    finally:
        duck.close()
        ch.close()
    assert set(got) == set(want)
    alerts = {k for k, r in want.items() if r["status"] == "alert"}
    assert any(k[0].startswith("feature_drift:credit_score") for k in alerts)
    assert {k for k, r in got.items() if r["status"] == "alert"} == alerts
    for k, r in want.items():
        assert got[k]["status"] == r["status"], k
        a, b = r.get("value"), got[k].get("value")
        if isinstance(a, float) and isinstance(b, float) and not (math.isnan(a) and math.isnan(b)):
            assert b == pytest.approx(a, rel=1e-9, abs=1e-12), k
        else:
            assert a == b or (a != a and b != b), k
