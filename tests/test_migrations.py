"""Database files keep their data across releases: a file of the previous release's layout is
upgraded at opening, in order, to the current schema version; a newer file is refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from mlwarden.errors import StoreOpenError
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store import DuckDBStore
from mlwarden.store.duckdb_migrations import CURRENT, FIRST

SPEC = ModelSpec(
    name="m", task="binary", classes=["0", "1"], features=[Feature(name="x", kind="numeric")]
)
T0 = datetime(2026, 3, 1)

#: The layout of release 0.1.0 as its DuckDB engine wrote it (before monitor suites recorded
#: the late events they had seen and before incidents had versions).
OLD_DDL = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE uid_seq START 1",
    """CREATE TABLE models (
        project VARCHAR, name VARCHAR, uid BIGINT UNIQUE, spec VARCHAR,
        created_at TIMESTAMP, updated_at TIMESTAMP, PRIMARY KEY (project, name))""",
    """CREATE TABLE versions (
        project VARCHAR, model VARCHAR, version VARCHAR, created_at TIMESTAMP,
        description VARCHAR, metadata VARCHAR, PRIMARY KEY (project, model, version))""",
    """CREATE TABLE refs (
        uid BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, version VARCHAR, name VARCHAR,
        rows BIGINT, columns VARCHAR, created_at TIMESTAMP)""",
    """CREATE TABLE quarantine (
        project VARCHAR, model VARCHAR, kind VARCHAR, received_at TIMESTAMP, row_index INTEGER,
        field VARCHAR, reason VARCHAR, payload VARCHAR)""",
    """CREATE TABLE results (
        project VARCHAR, model VARCHAR, monitor VARCHAR, kind VARCHAR, "column" VARCHAR,
        segment VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP, status VARCHAR,
        value DOUBLE, threshold DOUBLE, warn DOUBLE, n BIGINT, direction VARCHAR, reason VARCHAR,
        details VARCHAR, evaluated_at TIMESTAMP)""",
    """CREATE TABLE monitor_suites (
        project VARCHAR, model VARCHAR, spec VARCHAR, state VARCHAR, updated_at TIMESTAMP,
        evaluated_until TIMESTAMP, labels_seen_until TIMESTAMP, PRIMARY KEY (project, model))""",
    "CREATE SEQUENCE incident_seq START 1",
    """CREATE TABLE incidents (
        id BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, signature VARCHAR, kind VARCHAR,
        state VARCHAR, severity VARCHAR, title VARCHAR, opened_at TIMESTAMP, updated_at TIMESTAMP,
        first_window TIMESTAMP, last_window TIMESTAMP, resolved_at TIMESTAMP,
        snoozed_until TIMESTAMP, healthy_windows INTEGER, body VARCHAR)""",
    """CREATE TABLE events_1 (event_id VARCHAR, version VARCHAR, ts TIMESTAMP,
        prediction VARCHAR, score DOUBLE, latency_ms DOUBLE, status VARCHAR, error VARCHAR,
        client_id VARCHAR, x DOUBLE, received_at TIMESTAMP)""",
    """CREATE TABLE actuals_1 (event_id VARCHAR PRIMARY KEY, actual VARCHAR,
        actual_value DOUBLE, ts TIMESTAMP, received_at TIMESTAMP)""",
]


def _old_file(path: Path, *, incidents: str | None = None) -> None:
    con = duckdb.connect(str(path))
    try:
        for ddl in OLD_DDL:
            if incidents is not None and ddl.startswith("CREATE TABLE incidents"):
                ddl = incidents
            con.execute(ddl)
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        con.execute(
            "INSERT INTO models VALUES ('default', 'm', nextval('uid_seq'), ?, ?, ?)",
            [SPEC.model_dump_json(), T0, T0],
        )
        for i in range(3):
            con.execute(
                "INSERT INTO events_1 (event_id, version, ts, prediction, x, received_at) "
                "VALUES (?, 'default', ?, '1', ?, ?)",
                [f"e{i}", T0, float(i), T0],
            )
        con.execute("INSERT INTO actuals_1 VALUES ('e0', '1', NULL, ?, ?)", [T0, T0])
        con.execute(
            "INSERT INTO results (project, model, monitor, kind, window_start, window_end, "
            "status, value, n, details) VALUES ('default', 'm', 'volume', 'volume', ?, ?, "
            "'ok', 3, 3, '{}')",
            [T0, T0],
        )
        con.execute(
            "INSERT INTO monitor_suites VALUES ('default', 'm', '{}', '{}', ?, ?, NULL)", [T0, T0]
        )
        if incidents is None:
            con.execute(
                "INSERT INTO incidents (id, project, model, signature, kind, state, severity, "
                "title, opened_at, updated_at, healthy_windows, body) VALUES (nextval("
                "'incident_seq'), 'default', 'm', 'model', 'drift', 'acknowledged', 'high', "
                "'Drift of x', ?, ?, 0, ?)",
                [T0, T0, json.dumps({"members": []})],
            )
    finally:
        con.close()


def _meta_and_columns(path: Path) -> tuple[str, set[str], set[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        (version,) = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        cols = lambda t: {  # noqa: E731
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [t]
            ).fetchall()
        }
        return version, cols("monitor_suites"), cols("incidents")
    finally:
        con.close()


def test_a_file_of_the_previous_release_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_file(path)
    store = DuckDBStore(str(path))
    try:
        (rec,) = store.list_models("default")
        assert rec.name == "m" and list(rec.spec.feature_names) == ["x"]
        assert store.events(rec).count().to_pyarrow().as_py() == 3
        t = store.results()
        assert t.filter(t.model == "m").count().to_pyarrow().as_py() == 1
        suite = store.get_suite("default", "m")
        assert suite.evaluated_until == T0 and suite.events_seen_until is None
        store.mark_evaluated("default", "m", events_until=T0)  # the new column is written
        assert store.get_suite("default", "m").events_seen_until == T0
    finally:
        store.close()
    version, suites, incidents = _meta_and_columns(path)
    assert version == str(CURRENT) and int(version) > FIRST
    assert "events_seen_until" in suites and "version" in incidents
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT state, version FROM incidents").fetchall()
    finally:
        con.close()
    assert rows == [("acknowledged", 0)]
    # opening again changes nothing
    DuckDBStore(str(path)).close()
    assert _meta_and_columns(path)[0] == str(CURRENT)


def test_a_placeholder_incidents_table_of_an_older_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "older.duckdb"
    _old_file(path, incidents="CREATE TABLE incidents (id BIGINT, note VARCHAR)")
    DuckDBStore(str(path)).close()
    version, _, incidents = _meta_and_columns(path)
    assert version == str(CURRENT) and {"signature", "version", "body"} <= incidents


def test_a_new_file_has_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    DuckDBStore(str(path)).close()
    version, suites, incidents = _meta_and_columns(path)
    assert version == str(CURRENT)
    assert "events_seen_until" in suites and "version" in incidents


@pytest.mark.parametrize("stored", [str(CURRENT + 1), "two"])
def test_a_file_of_a_newer_or_unknown_layout_is_refused_untouched(
    tmp_path: Path, stored: str
) -> None:
    path = tmp_path / "newer.duckdb"
    DuckDBStore(str(path)).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [stored])
    con.execute("CREATE TABLE from_the_future (x INTEGER)")
    con.close()
    with pytest.raises(StoreOpenError) as err:
        DuckDBStore(str(path))
    if stored == "two":
        assert "'two', which is not a whole number" in str(err.value)
    else:
        assert f"newer mlwarden (schema version {CURRENT + 1})" in str(err.value)
        assert f"reads schema versions up to {CURRENT}" in str(err.value)
    assert _meta_and_columns(path)[0] == stored
    # the refusal closed the file: it opens again at once
    duckdb.connect(str(path)).close()


def test_old_events_get_the_shadow_mark_false_and_stay_traffic(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_file(path)
    DuckDBStore(str(path)).close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        marks = con.execute("SELECT shadow FROM events_1").fetchall()
    finally:
        con.close()
    assert marks == [(False,)] * 3
    store = DuckDBStore(str(path))
    try:
        (rec,) = store.list_models("default")
        assert store.events(rec).count().to_pyarrow().as_py() == 3
        assert "shadow" not in rec.spec.feature_names
    finally:
        store.close()
