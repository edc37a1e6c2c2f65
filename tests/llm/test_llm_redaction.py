"""PII redaction at ingest: span text is masked, hashed or dropped before anything is stored,
while the PII flags are still raised from the original text."""

from __future__ import annotations

from pathlib import Path

import duckdb
import httpx
import pytest

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

T0 = 1_767_225_600_000_000_000
EMAIL = "jane.doe.7781@example.org"
CARD = "4111 1111 1111 1111"


def _span(i: int) -> SpanData:
    return SpanData(
        f"{i:032x}",
        f"{i:016x}",
        "chat gpt-4o-mini",
        T0,
        T0 + 1_000_000,
        attributes={
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.user.id": EMAIL,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": f"I am {EMAIL}, my card is {CARD}. What is my balance?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": f"Hello {EMAIL}, your balance is 42.",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 9,
        },
    )


def _stored_bytes(data: Path) -> bytes:
    """Everything the server keeps under ``data``: the raw bytes of its files (the ledger, the
    WAL), and the text of every table of its DuckDB files (DuckDB compresses the strings it
    checkpoints, so a byte search of the database file finds nothing either way)."""
    out = [p.read_bytes() for p in data.rglob("*") if p.is_file() and "log" not in p.name]
    for db in data.rglob("*.duckdb"):
        con = duckdb.connect(str(db), read_only=True)
        try:
            for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
                rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
                out.append(repr(rows).encode())
        finally:
            con.close()
    return b"".join(out)


@pytest.mark.parametrize("mode", ["off", "mask", "hash", "drop"])
def test_span_text_is_redacted_before_it_is_stored(tmp_path: Path, mode: str) -> None:
    data = tmp_path / "d"
    srv = ServerProcess(data, "--redact-pii", mode).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for i in (1, 2):
                r = http.post(
                    "/v1/traces",
                    content=encode_json([_span(i)], resource={"service.name": "bot"}),
                    headers={"content-type": "application/json"},
                )
                assert r.status_code == 200, r.text
            got = http.get("/v1/llm/spans").json()["spans"]
    finally:
        srv.stop()
    assert len(got) == 2
    stored = _stored_bytes(data)
    if mode == "off":  # the control: without redaction the text is there to find
        assert EMAIL in got[0]["prompt"] and EMAIL.encode() in stored
        return
    assert EMAIL.encode() not in stored and b"4111 1111" not in stored
    for s in got:
        assert s["pii_in_prompt"] and s["pii_in_response"]  # flags from the original text
        text = " ".join(str(s.get(k) or "") for k in ("prompt", "response", "user_id"))
        assert EMAIL not in text and "4111" not in text
    first = got[0]
    if mode == "mask":
        assert "[email]" in first["prompt"] and "[credit_card]" in first["prompt"]
        assert "balance" in first["prompt"]
    elif mode == "hash":
        assert "[email:" in first["prompt"] and "balance" in first["prompt"]
        # the same address hashes the same everywhere (one user stays one user)
        assert first["user_id"] == got[1]["user_id"] and first["user_id"].startswith("[email:")
        assert len((data / "redaction.key").read_bytes()) == 32
        assert (data / "redaction.key").stat().st_mode & 0o077 == 0
    else:
        assert first["prompt"] is None and first["response"] is None


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="redact-pii"):
        ServerProcess(tmp_path / "d", "--redact-pii", "blur").start(timeout=60)


def test_text_features_are_redacted_before_they_are_stored(tmp_path: Path) -> None:
    data = tmp_path / "d"
    srv = ServerProcess(data, "--redact-pii", "mask").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            spec = {
                "name": "tickets",
                "task": "binary",
                "features": [
                    {"name": "note", "kind": "text"},
                    {"name": "amount", "kind": "numeric"},
                ],
            }
            assert http.post("/v1/models", json=spec).status_code == 201
            rows = [
                {"event_id": "a", "features": {"note": f"mail {EMAIL} now", "amount": 3.0},
                 "prediction": 1},
                {"event_id": "b", "features": {"note": "nothing here", "amount": 4.0},
                 "prediction": 0},
            ]  # fmt: skip
            r = http.post("/v1/models/tickets/events", json=rows)
            assert r.status_code == 200, r.text
            top = http.get("/v1/models/tickets/columns/note").json()
            # rejected rows are kept for people to read, and must not keep the person either:
            # one quoted in the reason (a text where a number belongs), one in a text feature
            bad = [
                {"event_id": "c", "features": {"note": "ok", "amount": EMAIL}, "prediction": 1},
                {"event_id": "d", "features": {"note": f"to {EMAIL}", "amount": 1.0},
                 "prediction": "not a class", "timestamp": "yesterday"},
            ]  # fmt: skip
            r = http.post("/v1/models/tickets/events", json=bad)
            assert r.json()["rejected_count"] == 2, r.text  # 422: no row was accepted
            quarantined = http.get("/v1/models/tickets/quarantine").json()
            span = SpanData("ab" * 16, "cd" * 8, f"ask {EMAIL}", 5, 1,  # ends before it starts
                            attributes={"gen_ai.prompt.0.content": f"I am {EMAIL}"})  # fmt: skip
            r = http.post(
                "/v1/traces",
                content=encode_json([span], resource={"service.name": "bot"}),
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
            spans_quarantined = http.get("/v1/llm/quarantine").json()
    finally:
        srv.stop()
    values = {t["value"] for t in top["top"]}
    assert values == {"mail [email] now", "nothing here"}, top
    assert len(quarantined) == 2, quarantined
    assert {q["event_id"] for q in quarantined if "event_id" in q} <= {"c", "d"}
    assert EMAIL not in str(quarantined) and "[email]" in str(quarantined), quarantined
    assert len(spans_quarantined) == 1, spans_quarantined
    assert EMAIL not in str(spans_quarantined) and "ask [email]" in str(spans_quarantined)
    assert EMAIL.encode() not in _stored_bytes(data)
