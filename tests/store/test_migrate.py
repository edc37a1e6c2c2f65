"""``mlwarden migrate``: a DuckDB deployment copied onto PostgreSQL, and onto PostgreSQL +
chDB, keeps its event ids, arrival times, results, incidents (ids, versions, timelines) and
aggregates; a second run adds nothing; bad targets are one line and a distinct exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlwarden.cli.main import main
from mlwarden.monitors.service import RESULT_SCHEMA
from mlwarden.schema import Feature, ModelSpec
from mlwarden.schema.annotation import AnnotationIn
from mlwarden.schema.batch import validate_rows
from mlwarden.store import Store, open_store
from mlwarden.store.transfer import compare, row_counts
from pgserver import PostgresServer

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SPEC = ModelSpec(
    name="m",
    task="regression",
    features=[Feature(name="x", kind="numeric"), Feature(name="c", kind="categorical")],
)
N = 300
BODY = '{"timeline": [{"at": "2026-03-02T00:00:00+00:00", "what": "opened"}]}'


def _results() -> pa.Table:
    rows = [
        {
            "monitor": "drift_x",
            "kind": "feature_drift",
            "column": "x",
            "segment": seg,
            "window_start": T0 + timedelta(days=d),
            "window_end": T0 + timedelta(days=d + 1),
            "status": "alert" if d == 2 else "ok",
            "value": 0.1 * d + (0.01 if seg else 0),
            "threshold": 0.2,
            "warn": None,
            "n": 100,
            "direction": "above",
            "reason": "",
            "details": "{}",
            "evaluated_at": T0 + timedelta(days=d + 1),
        }
        for d in range(3)
        for seg in (None, "c=a")
    ]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def _incident(store: Store, state: str) -> dict[str, Any]:
    return {
        "id": store.new_incident_id(),
        "project": "p",
        "model": "m",
        "signature": f"m:drift:{state}",
        "kind": "drift",
        "state": "open",
        "severity": "high",
        "title": "drift of x",
        "opened_at": T0,
        "updated_at": T0,
        "first_window": T0 + timedelta(days=2),
        "last_window": T0 + timedelta(days=2),
        "resolved_at": None,
        "snoozed_until": None,
        "healthy_windows": 0,
        "body": BODY,
        "version": 0,
    }


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB deployment: a model with events (some shadow), labels, results, an
    acknowledged and an open incident, a notification, an annotation, stored monitors."""
    where = tmp_path_factory.mktemp("duck")
    store = open_store(where)
    try:
        m = store.create_model("p", SPEC)
        store.create_version("p", "m", "v2", description="challenger", metadata={"run": "r1"})
        rows = [
            {
                "event_id": f"e{i}",
                "timestamp": (T0 + timedelta(minutes=17 * i)).isoformat(),
                "version": "v1",
                "features": {"x": float(i % 37) / 3, "c": "ab"[i % 2]},
                "prediction": float(i) / 7,
            }
            for i in range(N)
        ]
        shadow = [{**r, "version": "v2", "shadow": True} for r in rows[:20]]
        store.append_events(m, validate_rows(SPEC, rows + shadow).table).result()
        labels = pa.table(
            {
                "event_id": [f"e{i}" for i in range(0, N, 3)],
                "actual_value": [float(i % 5) for i in range(0, N, 3)],
            }
        )
        store.append_actuals(m, labels).result()
        store.write_results("p", "m", _results())
        store.put_reference(
            "p", "m", pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}), name="train"
        )
        store.put_suite("p", "m", "monitors: []\n", "{}")
        store.mark_evaluated("p", "m", until=T0 + timedelta(days=3))
        acked, still_open = _incident(store, "ack"), _incident(store, "open")
        assert store.put_incidents([acked, still_open]) == []
        stored = store.get_incident("p", acked["id"])
        assert store.put_incidents([{**stored, "state": "acknowledged"}]) == []
        store.put_alerting("p", "channels: []\n")
        store.record_delivery(
            "p",
            {
                "channel": "hook",
                "kind": "webhook",
                "key": "k1",
                "incident_id": acked["id"],
                "event": "opened",
                "status": "sent",
                "attempts": 1,
                "code": 200,
                "error": None,
                "started_at": T0,
                "finished_at": T0,
            },  # fmt: skip
        )
        store.put_annotation("p", "m", AnnotationIn(text="deploy v2", kind="deploy", time=T0))
        store.put_probe("p", "m", "ping", '{"url": "http://127.0.0.1:9/"}')
        store.put_slos("p", "m", "slos: []\n")
    finally:
        store.close()
    return where


def _migrate(*args: str) -> int:
    return main(["migrate", *args])


def _check_target(source_dir: Path, target: Store) -> None:
    source = open_store(source_dir)
    try:
        m_src, m_dst = source.get_model("p", "m"), target.get_model("p", "m")
        cols = ["event_id", "version", "shadow", "ts", "received_at", "x", "c", "prediction"]

        def events(s: Store, m: Any) -> list[dict[str, Any]]:
            rows = s.events(m, shadow=True).select(cols).to_pyarrow().to_pylist()
            return sorted(rows, key=lambda r: (r["event_id"], r["version"]))

        want, got = events(source, m_src), events(target, m_dst)
        assert len(got) == N + 20
        assert got == want  # ids, versions, shadow flag, times and arrival times kept

        def res(s: Store) -> list[dict[str, Any]]:
            r = s.results()
            mine = r.filter(r.model == "m").drop("project", "model").to_pyarrow().to_pylist()
            return sorted(mine, key=lambda x: (x["window_start"], x["segment"] or ""))

        assert res(target) == res(source)
        for inc in source.list_incidents("p"):
            assert target.get_incident("p", inc["id"]) == inc  # id, version, state, timeline
        states = sorted(i["state"] for i in target.list_incidents("p"))
        assert states == ["acknowledged", "open"]
        # a new incident on the target does not take a migrated one's id
        assert target.new_incident_id() > max(i["id"] for i in source.list_incidents("p"))
        assert (
            target.get_suite("p", "m").evaluated_until == source.get_suite("p", "m").evaluated_until
        )
        assert [a.text for a in target.annotations("p", "m")] == ["deploy v2"]
        assert target.list_probes() == source.list_probes() != []
        assert target.list_slo_specs() == source.list_slo_specs() != []
        checks = compare(row_counts(source), row_counts(target))
        assert [c for c in checks if not c.ok] == []
        assert {"p/m: events", "p: incident versions", "p/m: sum of x"} <= {c.what for c in checks}
    finally:
        source.close()


@pytest.fixture(scope="module")
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database("migrate_pg")


def test_migrate_onto_postgres(
    source_dir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _migrate("--from", str(source_dir), "--to", pg_url, "--batch-rows", "64") == 0
    assert "figures agree" in capsys.readouterr().out
    target = open_store(pg_url)
    try:
        _check_target(source_dir, target)
        before = row_counts(target)
    finally:
        target.close()
    # a non-empty target is refused unless forced; forced, the second run adds nothing
    assert _migrate("--from", str(source_dir), "--to", pg_url) == 2
    assert "--force" in capsys.readouterr().err
    assert _migrate("--from", str(source_dir), "--to", pg_url, "--force") == 0
    target = open_store(pg_url)
    try:
        assert [c for c in compare(before, row_counts(target)) if not c.ok] == []
        assert len(target.deliveries("p")) == 1
        # an event only the target holds: the verification tells, exit 3
        extra = {"event_id": "only-here", "timestamp": T0.isoformat(), "version": "v1",
                 "features": {"x": 1.0, "c": "a"}, "prediction": 0.0}  # fmt: skip
        target.append_events(
            target.get_model("p", "m"), validate_rows(SPEC, [extra]).table
        ).result()
    finally:
        target.close()
    capsys.readouterr()
    assert _migrate("--from", str(source_dir), "--to", pg_url, "--force") == 3
    out = capsys.readouterr()
    assert "differ" in out.err and "321" in out.out


def test_migrate_onto_postgres_and_chdb(
    source_dir: Path, pg_server: PostgresServer, chdb_url: Callable[[str], str]
) -> None:
    url, events = pg_server.create_database("migrate_pg_ch"), chdb_url("migrate_ch")
    args = ["--from", str(source_dir), "--to", url, "--events", events]
    assert _migrate(*args) == 0
    assert _migrate(*args, "--force") == 0
    target = open_store(url, events=events)
    try:
        _check_target(source_dir, target)
    finally:
        target.close()


@pytest.fixture
def one_line_error(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    def read() -> str:
        err = capsys.readouterr().err.strip()
        assert err and "\n" not in err and "Traceback" not in err, err
        return err

    yield read


def test_bad_targets(source_dir: Path, tmp_path: Path, one_line_error: Callable[[], str]) -> None:
    assert _migrate("--from", str(source_dir), "--to", "mysql://db/x") == 2
    assert "--to" in one_line_error()
    assert _migrate("--from", str(tmp_path), "--to", "postgresql://127.0.0.1:1/x") == 2
    assert "--from" in one_line_error()
    # nothing listens on port 1: the target cannot be opened
    assert _migrate("--from", str(source_dir), "--to", "postgresql://127.0.0.1:1/x") == 4
    assert one_line_error().startswith("error:")


def test_distinct_counts_on_clickhouse_are_exact(chdb_url: Callable[[str], str]) -> None:
    """The verification's distinct event ids: ibis compiles a distinct count to ClickHouse's
    `uniq`, an estimate above 65,536 values (a migration of 200,000 events counted 200,180);
    the engine's compiler makes it `uniqExact`."""
    n = 70_000
    spec = ModelSpec(name="many", task="regression", features=[])
    store = open_store(None, events=chdb_url("migrate_distinct"))
    try:
        m = store.create_model("p", spec)
        rows = [
            {
                "event_id": f"id-{i}",
                "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "prediction": 0.0,
            }  # fmt: skip
            for i in range(n)
        ]
        store.append_events(m, validate_rows(spec, rows).table).result()
        ev = store.events(m)
        assert ev.event_id.nunique().to_pyarrow().as_py() == n
    finally:
        store.close()
