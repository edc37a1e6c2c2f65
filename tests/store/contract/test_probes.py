"""Contract of :class:`mlwarden.store.protocols.Probes`: probes replaced by name and removed
with their results, results newest first, SLO lists per model, and the (bad, total) counts
SLOs are computed from, per window and per time bucket, over probe results and requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.store import Store
from mlwarden.store.protocols import Probes

PROTOCOL = Probes

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)


def results(n: int, *, probe: str = "ping", start: datetime = T0) -> list[dict[str, Any]]:
    """One result a minute; every 4th failed, every 5th slow (300 ms, else 100 ms)."""
    return [
        {
            "probe": probe,
            "at": start + timedelta(minutes=i),
            "status_code": 500 if i % 4 == 0 else 200,
            "latency_ms": 300.0 if i % 5 == 0 else 100.0,
            "ok": i % 4 != 0,
            "error": "HTTP 500" if i % 4 == 0 else None,
        }
        for i in range(n)
    ]


def test_the_engine_is_probes(engine: Store) -> None:
    assert isinstance(engine, Probes)


def test_probes_are_replaced_by_name_and_removed_with_their_results(engine: Probes) -> None:
    engine.put_probe("p", "m", "ping", '{"url": "a"}')
    engine.put_probe("p", "m", "ping", '{"url": "b"}')
    engine.put_probe("p", "m", "auth", '{"url": "c"}')
    engine.put_probe("p", "n", "ping", '{"url": "d"}')
    engine.put_probe("q", "m", "ping", '{"url": "e"}')
    assert engine.list_probes("p", "m") == [
        ("p", "m", "auth", '{"url": "c"}'),
        ("p", "m", "ping", '{"url": "b"}'),
    ]
    assert [r[:3] for r in engine.list_probes()] == [
        ("p", "m", "auth"),
        ("p", "m", "ping"),
        ("p", "n", "ping"),
        ("q", "m", "ping"),
    ]
    assert engine.append_probe_results("p", "m", results(3)) == 3
    assert engine.append_probe_results("p", "m", []) == 0
    assert engine.delete_probe("p", "m", "ping") is True
    assert engine.delete_probe("p", "m", "ping") is False
    assert engine.probe_results("p", "m") == []
    assert [r[2] for r in engine.list_probes("p", "m")] == ["auth"]


def test_results_newest_first_and_last_runs(engine: Probes) -> None:
    engine.append_probe_results("p", "m", results(5))
    engine.append_probe_results("p", "m", results(2, probe="auth", start=T0 + H))
    engine.append_probe_results("p", "other", results(9))
    got = engine.probe_results("p", "m", probe="ping", limit=3)
    assert [r["at"] for r in got] == [T0 + timedelta(minutes=i) for i in (4, 3, 2)]
    assert got[0] == {
        "probe": "ping",
        "at": T0 + timedelta(minutes=4),
        "status_code": 500,
        "latency_ms": 100.0,
        "ok": False,
        "error": "HTTP 500",
    }
    assert got[1]["ok"] is True and got[1]["error"] is None
    assert len(engine.probe_results("p", "m")) == 7
    assert engine.last_probe_runs("p", "m") == {
        "ping": T0 + timedelta(minutes=4),
        "auth": T0 + H + timedelta(minutes=1),
    }


def test_slo_lists_are_set_per_model(engine: Probes) -> None:
    engine.put_slos("p", "m", '[{"a": 1}]')
    engine.put_slos("p", "m", '[{"a": 2}]')
    engine.put_slos("p", "n", "[]")
    engine.put_slos("q", "m", "[]")
    assert engine.list_slo_specs("p") == [("p", "m", '[{"a": 2}]'), ("p", "n", "[]")]
    assert len(engine.list_slo_specs()) == 3


def test_slo_counts_over_probe_results_per_window_and_bucket(engine: Probes) -> None:
    engine.append_probe_results("p", "m", results(120))  # two hours, one a minute
    until = T0 + timedelta(minutes=119)
    counts = engine.slo_counts(
        "p", "m", source="probes", until=until, windows=[timedelta(minutes=10), 2 * H]
    )
    # (until - 10 min, until]: minutes 110..119; failures at 112 and 116
    assert counts == {timedelta(minutes=10): (2, 10), 2 * H: (30, 120)}
    slow = engine.slo_counts(
        "p", "m", source="probes", threshold_ms=200.0, until=until, windows=[2 * H]
    )
    # failed or slow: 30 failed, 24 slow, 6 both
    assert slow == {2 * H: (30 + 24 - 6, 120)}
    assert engine.slo_counts("p", "m", source="probes", probe="none", until=until, windows=[H]) == {
        H: (0, 0)
    }
    series = engine.slo_series("p", "m", source="probes", since=T0 - H, until=T0 + 3 * H, step=H)
    assert series == [(T0, 15, 60), (T0 + H, 15, 60)]


def test_slo_counts_over_requests(engine: Store) -> None:
    spec = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
    m = engine.create_model("p", spec)
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(minutes=i + 1)).isoformat(),
            "features": {"x": 1.0},
            "prediction": 1.0,
            "latency_ms": None if i % 10 == 0 else float(50 + i),
            "status": "error" if i % 3 == 0 else "ok",
        }
        for i in range(60)
    ]
    engine.append_events(m, validate_rows(spec, rows).table).result()
    assert isinstance(engine, Probes)
    until = T0 + H
    errors = engine.slo_counts("p", "m", source="requests", until=until, windows=[H])
    assert errors == {H: (20, 60)}
    slow = engine.slo_counts(
        "p", "m", source="requests", threshold_ms=80.0, until=until, windows=[H]
    )
    # 54 carry a latency; above 80 ms: i = 31..59 without multiples of 10 (40, 50)
    assert slow == {H: (27, 54)}
    series = engine.slo_series(
        "p", "m", source="requests", since=T0 - H, until=until, step=timedelta(minutes=30)
    )
    half = timedelta(minutes=30)
    assert series == [(T0, 10, 29), (T0 + half, 10, 30), (T0 + 2 * half, 0, 1)]


def test_probes_and_slos_follow_a_renamed_model_and_go_with_a_deleted_one(
    engine: Store,
) -> None:
    assert isinstance(engine, Probes)
    spec = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
    engine.create_model("p", spec)
    engine.put_probe("p", "m", "ping", "{}")
    engine.append_probe_results("p", "m", results(3))
    engine.put_slos("p", "m", "[]")
    engine.rename_model("p", "m", "m2")
    assert [r[1:3] for r in engine.list_probes("p")] == [("m2", "ping")]
    assert len(engine.probe_results("p", "m2")) == 3
    assert engine.list_slo_specs("p") == [("p", "m2", "[]")]
    removed = engine.delete_model("p", "m2")
    assert (removed["probes"], removed["probe_results"], removed["slo_specs"]) == (1, 3, 1)
    assert engine.list_probes("p") == [] and engine.list_slo_specs("p") == []
    assert engine.probe_results("p", "m2") == []
