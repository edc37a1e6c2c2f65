"""Acceptance: a client probing the model among normal clients gives one security incident.

The simulated loan-default model serves twenty ordinary clients (``app-00`` .. ``app-19``,
2,000 events a day). On day 2 one more client, ``probe-7``, sweeps ``credit_score`` and
``income`` over a 12 x 12 grid (the other inputs fixed); on day 3 it bisects the decision
boundary: small steps around one applicant, whose scores sit near 0.5. Real engine (a DuckDB
file), the monitors set up automatically, the evaluation -> incidents path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.incidents import service as incidents
from mlwarden.incidents.record import Incident
from mlwarden.monitors.service import evaluate_range, setup_suite
from mlwarden.schema import validate_table
from mlwarden.store import DuckDBStore
from monitors.conftest import spec_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 4
CLIENTS = 20
PROBE = "probe-7"


def with_clients(table: pa.Table, day: int) -> pa.Table:
    rng = np.random.default_rng(day)
    ids = [f"app-{i:02d}" for i in rng.integers(0, CLIENTS, table.num_rows)]
    return table.append_column("client_id", pa.array(ids, pa.string()))


def probe_rows(sim: Simulation, day: int) -> pa.Table:
    """The probing client's queries of ``day``: a grid sweep (day 2) or a bisection of the
    decision boundary (day 3), each built from one ordinary applicant."""
    template = sim.events(day, day + 1).slice(0, 1).to_pylist()[0]
    start = sim.scenario.start + timedelta(days=day, hours=10)
    rng = np.random.default_rng(7 + day)
    rows = []
    if day == 2:
        points = [
            (c, i)
            for c in np.linspace(500.0, 800.0, 12)
            for i in np.linspace(20_000.0, 130_000.0, 12)
        ]
    else:
        points = [(640.0 + rng.normal(0, 0.3), 60_000.0 + rng.normal(0, 40)) for _ in range(150)]
    for k, (credit, income) in enumerate(points):
        score = 1 / (1 + np.exp((credit - 640.0) / 40.0 + (income - 60_000.0) / 50_000.0))
        if day == 3:
            score = 0.5 + rng.uniform(-0.03, 0.03)
        rows.append(
            template
            | {
                "event_id": f"probe-{day}-{k:04d}",
                "timestamp": start + timedelta(seconds=20 * k),
                "credit_score": int(round(credit)),
                "income": float(round(income)),
                "score": float(score),
                "prediction": int(score >= 0.5),
                "client_id": PROBE,
            }
        )
    table = pa.Table.from_pylist(rows)
    return table


def run(path: Path, *, probe: bool) -> tuple[list[Incident], list[dict[str, object]]]:
    """The security incidents of the four days, and the probing monitor's results."""
    sim = Simulation(Scenario(days=DAYS, events_per_day=2000, drift_start_day=None, seed=5))
    spec = spec_of(sim)
    store = DuckDBStore(path)
    try:
        model = store.create_model("p", spec)
        store.put_reference("p", spec.name, sim.reference())
        for day in range(DAYS):
            table = with_clients(sim.events(day, day + 1), day)
            if probe and day in (2, 3):
                extra = probe_rows(sim, day).select(table.column_names).cast(table.schema)
                table = pa.concat_tables([table, extra])
            r = validate_table(spec, table)
            assert not r.rejected, r.rejected[:3]
            store.append_events(model, r.table).result()
        setup_suite(store, "p", spec.name, cadence="1d")

        def on_results(project: str, name: str, results: list, cadence: timedelta) -> None:
            incidents.process(store, project, name, results, cadence=cadence, now=NOW)

        start = sim.scenario.start
        evaluate_range(
            store, "p", spec.name, start, start + timedelta(days=DAYS), on_results=on_results
        )
        found = [i for i in incidents.list_incidents(store, "p", limit=100) if i.kind == "security"]
        t = store.results()
        rows = t.filter(t.kind == "probing").order_by("window_start").to_pyarrow().to_pylist()
        return found, rows
    finally:
        store.close()


@pytest.fixture(scope="module")
def probed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Incident], list[dict[str, object]]]:
    return run(tmp_path_factory.mktemp("probed") / "mlwarden.duckdb", probe=True)


@pytest.mark.slow
def test_a_probing_client_gives_one_security_incident_naming_it(
    probed: tuple[list[Incident], list[dict[str, object]]],
) -> None:
    security, _ = probed
    assert len(security) == 1, [(i.kind, i.title) for i in security]
    inc = security[0]
    assert inc.title.startswith(f"Security: Client {PROBE!r} probes the model")
    (member,) = inc.members
    assert member["kind"] == "probing"
    # both days of the probe fired, and no ordinary client was named
    assert len(member["windows"]) == 2
    assert (inc.first_window - Scenario().start).days == 2
    assert member["evidence"]["client"] == PROBE
    assert "app-" not in inc.title and "app-" not in member["reason"]
    # the latest window's patterns: the bisection of the boundary, in near-duplicate steps
    assert "decision boundary" in member["reason"] and "near-duplicates" in member["reason"]
    # what to do about it names the client too
    first = inc.recommendations[0]
    assert first["rule"] == "probing-client", inc.recommendations
    assert f"client {PROBE}" in first["action"] and "/v1/security/access" in first["action"]


@pytest.mark.slow
def test_each_pattern_is_named_in_its_window(
    probed: tuple[list[Incident], list[dict[str, object]]],
) -> None:
    _, rows = probed
    status = [r["status"] for r in rows]
    assert status == ["ok", "ok", "alert", "alert"], [r["reason"] for r in rows]
    sweep = str(rows[2]["reason"])
    assert PROBE in sweep and "grid sweep" in sweep
    assert "credit_score (12 levels)" in sweep and "income (12 levels)" in sweep
    assert "decision boundary" not in sweep  # the sweep's scores are spread out


@pytest.mark.slow
def test_normal_clients_alone_raise_no_security_incident(tmp_path: Path) -> None:
    security, rows = run(tmp_path / "mlwarden.duckdb", probe=False)
    assert not security, [i.title for i in security]
    assert [r["status"] for r in rows] == ["ok"] * DAYS, [r["reason"] for r in rows]
