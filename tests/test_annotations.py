"""Annotations (deploys, notes, incidents marked on charts) over the API, the CLI and the SDK,
on one real server with keys: scopes, validation, 404s, the audit log, and a model's delete
and rename taking its annotations along."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import mlwarden
from mlwarden.store.keys import KeyStore
from serverproc import ServerProcess, free_port

SPEC = {"name": "churn", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    data = tmp_path_factory.mktemp("annotations") / "d"
    ks = KeyStore(data / "keys.json")
    keys = {
        "read": ks.create("p", scopes=["read"]),
        "operate": ks.create("p", scopes=["operate", "read", "ingest"]),
        "admin": ks.create("p", scopes=["admin", "read"]),
    }
    srv = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            for name in ("churn", "other"):
                r = http.post("/v1/models", json={**SPEC, "name": name}, headers=_h(keys["admin"]))
                assert r.status_code == 201, r.text
        yield srv, keys
    finally:
        srv.stop()


def _h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _audit(srv: ServerProcess) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted((srv.data_dir / "security" / "audit").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_api_marks_lists_and_deletes_with_scopes_and_audit(keyed: tuple) -> None:
    srv, keys = keyed
    op, rd = _h(keys["operate"]), _h(keys["read"])
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        body = {"text": "v2 rolled out", "kind": "deploy", "time": "2026-03-01T12:00:00Z"}
        # reading is not enough to write; unknown models are 404 for both
        assert http.post("/v1/models/churn/annotations", json=body, headers=rd).status_code == 403
        r = http.post("/v1/models/nope/annotations", json=body, headers=op)
        assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
        assert http.get("/v1/models/nope/annotations", headers=rd).status_code == 404

        r = http.post("/v1/models/churn/annotations", json=body, headers=op)
        assert r.status_code == 201, r.text
        deploy = r.json()
        assert deploy["model"] == "churn" and deploy["kind"] == "deploy"
        assert deploy["time"].startswith("2026-03-01T12:00:00") and deploy["end"] is None
        # no author given: signed with the caller's key
        assert deploy["author"].startswith("key ") and deploy["author"][4:] in keys["operate"]
        span = {"text": "rollout", "kind": "incident", "time": "2026-03-02", "end": "2026-03-03",
                "author": "ops"}  # fmt: skip
        assert http.post("/v1/models/churn/annotations", json=span, headers=op).status_code == 201
        other = {"text": "elsewhere", "time": "2026-03-01T13:00:00"}
        assert http.post("/v1/models/other/annotations", json=other, headers=op).status_code == 201
        # a project-wide one shows on every model's list (and charts)
        wide = {"text": "database failover", "kind": "incident", "time": "2026-03-01T18:00:00"}
        r = http.post("/v1/annotations", json=wide, headers=op)
        assert r.status_code == 201 and r.json()["model"] is None
        wide_id = r.json()["id"]

        listed = http.get("/v1/models/churn/annotations", headers=rd).json()
        assert [a["text"] for a in listed] == ["v2 rolled out", "database failover", "rollout"]
        assert [a["text"] for a in http.get("/v1/annotations", headers=rd).json()] == [
            "database failover"
        ]
        # a range keeps what overlaps it: the span that started before it too
        q = {"start": "2026-03-02T12:00:00", "end": "2026-03-05"}
        ranged = http.get("/v1/models/churn/annotations", params=q, headers=rd).json()
        assert [a["text"] for a in ranged] == ["rollout"]

        # bad input names the field, the value and what was expected
        for bad, field in (
            ({"text": ""}, "text"),
            ({"text": "x" * 501}, "text"),
            ({"text": "ok", "time": "yesterday"}, "time"),
            ({"text": "ok", "time": "9999-01-01"}, "time"),
            ({"text": "ok", "kind": "party"}, "kind"),
            ({"text": "ok", "time": "2026-03-02", "end": "2026-03-01"}, "end"),
            ({"text": "ok", "extra": 1}, "extra"),
        ):
            r = http.post("/v1/models/churn/annotations", json=bad, headers=op)
            assert r.status_code == 422, (bad, r.text)
            assert field in r.text

        # delete: the model's own through its path, the project's through /v1/annotations
        assert http.delete(f"/v1/models/churn/annotations/{wide_id}", headers=op).status_code == 404
        assert http.delete(f"/v1/annotations/{deploy['id']}", headers=op).status_code == 404
        assert http.delete(f"/v1/annotations/{wide_id}", headers=rd).status_code == 403
        r = http.delete(f"/v1/models/churn/annotations/{deploy['id']}", headers=op)
        assert r.status_code == 200 and r.json()["text"] == "v2 rolled out"
        assert http.delete(f"/v1/annotations/{wide_id}", headers=op).status_code == 200
        left = http.get("/v1/models/churn/annotations", headers=rd).json()
        assert [a["text"] for a in left] == ["rollout"]

    entries = [e for e in _audit(srv) if e["action"].startswith("annotation.")]
    assert [e["action"] for e in entries].count("annotation.create") == 4
    gone = [e for e in entries if e["action"] == "annotation.delete"]
    assert {e["before"]["text"] for e in gone} == {"v2 rolled out", "database failover"}
    assert all(e["key_id"] and e["project"] == "p" for e in entries)


def test_cli_marks_a_deploy(keyed: tuple) -> None:
    srv, keys = keyed
    r = cli("annotate", "v3 from CI", "-m", "other", "--kind", "deploy", "--at",
            "2026-04-01T08:30:00", "--by", "ci-bot", "--url", srv.url, "--api-key",
            keys["operate"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Marked deploy 'v3 from CI' at 2026-04-01 08:30 UTC on model other" in r.stdout
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        got = http.get("/v1/models/other/annotations", headers=_h(keys["read"])).json()
    assert any(a["text"] == "v3 from CI" and a["author"] == "ci-bot" for a in got)
    # errors are one line: an unknown model, a bad kind, a read-only key
    r = cli("annotate", "x", "-m", "nope", "--url", srv.url, "--api-key", keys["operate"])
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr
    r = cli("annotate", "x", "--kind", "party", "--url", srv.url)
    assert r.returncode == 2 and "party" in r.stderr
    r = cli("annotate", "x", "-m", "other", "--url", srv.url, "--api-key", keys["read"])
    assert r.returncode == 2 and "operate" in r.stderr


def test_sdk_annotates_and_never_raises(keyed: tuple) -> None:
    srv, keys = keyed
    monitor = mlwarden.init(model="churn", url=srv.url, api_key=keys["operate"])
    try:
        assert monitor.annotate("canary at 5%", kind="deploy", author="sdk-test") is True
        assert monitor.annotate("", kind="deploy") is False  # refused here, logged
        assert monitor.annotate("x", kind="party") is False
    finally:
        monitor.close()
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        got = http.get("/v1/models/churn/annotations", headers=_h(keys["read"])).json()
    assert [a["author"] for a in got if a["text"] == "canary at 5%"] == ["sdk-test"]
    # a server that is away: False, no exception into the application
    away = mlwarden.init(
        model="churn",
        url=f"http://127.0.0.1:{free_port()}",
        timeout=2,
        spool_dir=srv.data_dir / "s",
    )
    try:
        assert away.annotate("deploy", kind="deploy") is False
    finally:
        away.close()


def test_local_transport_annotates(tmp_path: Path) -> None:
    from mlwarden.schema.spec import ModelSpec

    memory = mlwarden.InMemoryTransport()
    with mlwarden.init(model="m", transport=memory) as monitor:
        assert monitor.annotate("note", at=None) is True
    assert [a.text for _, a in memory.annotations] == ["note"]

    local = mlwarden.sdk.LocalTransport(tmp_path / "store.duckdb")
    local.store().create_model("default", ModelSpec.model_validate(SPEC))
    with mlwarden.init(model="churn", transport=local) as monitor:
        assert monitor.annotate("from a notebook", kind="data") is True
        assert monitor.annotate("typo", kind="note") is True
    ghost = mlwarden.sdk.LocalTransport(tmp_path / "store.duckdb")
    from mlwarden.schema.annotation import AnnotationIn

    assert ghost.annotate("nope", AnnotationIn(text="x")).result.value == "missing_model"
    anns = ghost.store().annotations("default", "churn")
    assert [(a.kind.value, a.text) for a in anns][0] == ("data", "from a notebook")
    ghost.close()


def test_delete_and_rename_take_annotations_along(keyed: tuple) -> None:
    srv, keys = keyed
    admin, op, rd = _h(keys["admin"]), _h(keys["operate"]), _h(keys["read"])
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        r = http.post("/v1/models", json={**SPEC, "name": "temp"}, headers=admin)
        assert r.status_code == 201
        note = {"text": "kept through a rename", "time": "2026-05-01"}
        assert http.post("/v1/models/temp/annotations", json=note, headers=op).status_code == 201
        assert http.patch("/v1/models/temp", json={"name": "temp2"}, headers=admin).is_success
        got = http.get("/v1/models/temp2/annotations", headers=rd).json()
        assert [a["model"] for a in got if a["text"] == note["text"]] == ["temp2"]
        r = http.delete("/v1/models/temp2", headers=admin)
        assert r.status_code == 200 and r.json()["removed"]["annotations"] == 1
        # a new model of the old name starts without them
        assert http.post("/v1/models", json={**SPEC, "name": "temp2"}, headers=admin).is_success
        got = http.get("/v1/models/temp2/annotations", headers=rd).json()
        assert all(a["text"] != note["text"] for a in got)
