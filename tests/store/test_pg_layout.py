"""The PostgreSQL layout's versions: a database of layout 1 (before spans, logs, metric points,
scores, probes and SLOs were stored there) is brought to the current layout at start-up."""

from __future__ import annotations

import psycopg
import pyarrow as pa

from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.store import PostgresStore
from mlwarden.store.pg_schema import CURRENT
from pgserver import PostgresServer

NEW = ("spans", "span_logs", "llm_metrics", "scores", "probes", "probe_results", "slo_specs")


def test_a_layout_1_database_gains_the_llm_and_slo_tables(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("layout_1")
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as con:  # as the previous release left it
        for table in NEW:
            con.execute(f"DROP TABLE {table}")
        con.execute("DROP FUNCTION mlwarden_quantile_cont")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = PostgresStore(url)
    try:
        row = {f.name: None for f in SPAN_SCHEMA} | {"trace_id": "t", "span_id": "s"}
        spans = pa.Table.from_pylist([row], schema=SPAN_SCHEMA)
        assert store.append_spans("p", spans).result().inserted == 1
        assert store.spans("p").count().to_pyarrow().as_py() == 1
    finally:
        store.close()
    with psycopg.connect(url) as con:
        (version,) = con.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() or ("",)
        found = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
        }
    assert CURRENT == 2 and version == "2"
    assert set(NEW) <= found
