from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.schema import ModelSpec, validate_table
from mlwarden.store import DuckDBStore


def load(
    store: DuckDBStore,
    model: Any,
    sim: Simulation,
    *,
    day_from: float = 0,
    day_to: float | None = None,
    labels_until_day: float | None = None,
) -> None:
    spec = model.spec
    for batch in sim.iter_batches(batch_size=50_000, day_from=day_from, day_to=day_to):
        r = validate_table(spec, batch)
        assert not r.rejected
        store.append_events(model, r.table).result()
    if labels_until_day is not None:
        act = sim.actuals(available_at=sim.scenario.start + timedelta(days=labels_until_day))
        store.append_actuals(model, actuals_table(act)).result()


def load_resources(store: DuckDBStore, model: Any, sim: Simulation) -> Any:
    """The simulated servers' resource samples in ``<model>.resources`` (the SDK's layout)."""
    from mlwarden.sdk.resources import resources_spec

    companion = store.create_model(model.project, resources_spec(model.name))
    r = validate_table(companion.spec, sim.resources())
    assert not r.rejected
    store.append_events(companion, r.table).result()
    return companion


def actuals_table(act: pa.Table) -> pa.Table:
    return pa.table(
        {
            "event_id": act.column("event_id"),
            "actual": act.column("actual").cast(pa.string()),
            "actual_value": pa.nulls(act.num_rows, pa.float64()),
            "ts": act.column("timestamp"),
        }
    )


@pytest.fixture(scope="module")
def small_sim() -> Simulation:
    return Simulation(
        Scenario(days=4, events_per_day=600, drift_start_day=None, reference_rows=5000)
    )


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    yield s
    s.close()


def spec_of(sim: Simulation) -> ModelSpec:
    return ModelSpec.model_validate(sim.spec_columns)
