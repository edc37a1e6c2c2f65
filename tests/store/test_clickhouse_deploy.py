"""The ClickHouse cluster deployment (deploy/clickhouse) cannot rot silently: the compose file's
services fit together, its configs parse, and every SQL statement of its README is valid
ClickHouse (parsed by ClickHouse's own parser through chDB: ``EXPLAIN AST``, no cluster)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlwarden.schema import Feature, ModelSpec
from mlwarden.schema.batch import canonical_schema
from mlwarden.store.ch_events import ch_type

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse"
NODES = {"ch-s1-r1": "1", "ch-s1-r2": "1", "ch-s2-r1": "2", "ch-s2-r2": "2"}

#: parses each statement of stdin's JSON list with ClickHouse's parser; prints the failures
_PARSE = """
import json, sys, chdb
bad = {}
for stmt in json.load(sys.stdin):
    try:
        chdb.query("EXPLAIN AST " + stmt, "CSV")
    except Exception as exc:
        bad[stmt] = str(exc).splitlines()[0]
print(json.dumps(bad))
"""


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def sql_statements() -> list[str]:
    text = (DEPLOY / "README.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return [s.strip() for b in blocks for s in b.split(";\n") if s.strip().rstrip(";")]


def parse_errors(statements: list[str]) -> dict[str, str]:
    """Each statement that ClickHouse's parser rejects, with its error (a child process:
    chDB is one engine per process, which other tests open on their own directory)."""
    pytest.importorskip("chdb")
    out = subprocess.run(
        [sys.executable, "-c", _PARSE],
        input=json.dumps([s.rstrip(";") for s in statements]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    errors: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return errors


def test_compose_services_fit_together() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {"keeper", *NODES, "postgres", "mlwarden"}
    for name, shard in NODES.items():
        svc = services[name]
        assert svc["hostname"] == name
        assert svc["environment"]["SHARD"] == shard
        assert svc["environment"]["REPLICA"] == name
        assert "keeper" in svc["depends_on"]
        for mount in svc["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).is_file(), source
            else:
                assert source in doc["volumes"], source
    command = services["mlwarden"]["command"]
    store = re.search(r"--store postgresql://\S+@(\w[\w-]*):5432/\w+", command)
    events = re.search(r"--events clickhouse://\S+@([\w-]+):8123/mlwarden", command)
    assert store is not None and store.group(1) in services, command
    assert events is not None and events.group(1) in NODES, command


def test_cluster_config_names_the_compose_nodes_by_shard() -> None:
    for xml in DEPLOY.glob("config/*.xml"):
        ET.parse(xml)  # every config is well-formed
    root = ET.parse(DEPLOY / "config" / "cluster.xml").getroot()
    shards = root.findall("./remote_servers/mlwarden/shard")
    hosts = [[r.findtext("host") for r in s.findall("replica")] for s in shards]
    assert hosts == [["ch-s1-r1", "ch-s1-r2"], ["ch-s2-r1", "ch-s2-r2"]]
    assert root.findtext("./zookeeper/node/host") == "keeper"
    macros = root.find("macros")
    assert macros is not None
    assert macros.find("shard").get("from_env") == "SHARD"  # type: ignore[union-attr]
    assert macros.find("replica").get("from_env") == "REPLICA"  # type: ignore[union-attr]


def test_readme_single_node_ddl_is_what_the_engine_creates() -> None:
    """The README's single-node columns are the engine's for its example model (n0, c0)."""
    spec = ModelSpec(
        name="m",
        task="binary",
        classes=["0", "1"],
        features=[Feature(name="n0", kind="numeric"), Feature(name="c0", kind="categorical")],
    )
    key = {"event_id", "version", "ts"}
    cols = ", ".join(
        f"{f.name} {ch_type(f.type, nullable=f.name not in key)}" for f in canonical_schema(spec)
    )
    statements = sql_statements()
    engine_ddl = [s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS")]
    cluster_ddl = [s for s in statements if "_local ON CLUSTER" in s and "events" in s]
    assert engine_ddl and cluster_ddl
    assert f"({cols}, received_at DateTime64(6))" in engine_ddl[0]
    assert f"({cols}, received_at DateTime64(6))" in cluster_ddl[0]


def test_readme_sql_is_valid_clickhouse() -> None:
    statements = sql_statements()
    assert any("ReplicatedReplacingMergeTree" in s for s in statements)
    assert any("ENGINE = Distributed(" in s for s in statements)
    broken = "CREATE TABLE t ON CLUSTER mlwarden (a Strin g) ENGINE = Distributed("
    errors = parse_errors([*statements, broken])
    assert broken in errors  # the check can fail
    assert {s: e for s, e in errors.items() if s != broken} == {}
