"""The Python snippet of docs/llm.md runs as written, against the real server and a fake OpenAI."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fake_openai import fake_openai

from mlwarden.sdk import llm
from serverproc import ServerProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def test_docs_snippet_runs_and_its_spans_arrive(
    llm_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("openai")
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    with fake_openai() as fake:
        monkeypatch.setenv("MLWARDEN_URL", llm_server.url)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        try:
            exec(compile(code, str(DOC), "exec"), {"__name__": "docs_llm"})
            exporter = llm._state.tracer.exporter
            assert exporter.flush(30)
        finally:
            llm.configure(exporter=llm.InMemoryExporter())
    assert capsys.readouterr().out.strip() == "The capital of France is Paris."
    with httpx.Client(base_url=llm_server.url, timeout=30) as http:
        rows = http.get("/v1/llm/spans", params={"service": "support-bot"}).json()["spans"]
    assert sorted(r["span_type"] for r in rows) == ["chain", "llm"]
    assert {r["user_id"] for r in rows} == {"ann"}
    llm_row = next(r for r in rows if r["span_type"] == "llm")
    assert llm_row["input_tokens"] == 120 and llm_row["cost"] > 0


def test_docs_spec_applies_as_written() -> None:
    import pyarrow as pa

    from mlwarden.monitors import MonitorSuite
    from mlwarden.schema.spec import ModelSpec

    (text,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    suite = MonitorSuite.from_yaml(text)
    suite.fit(ModelSpec(name="support-bot", task="llm", prediction=None), pa.table({}))
    assert not suite.skipped, suite.skipped
    ids = [m.id for m in suite.monitors]
    assert ids == [
        "llm_budget:cost_per_model",
        "llm_budget:tokens_per_user",
        "llm_cost:cost",
        "llm_injection",
        "llm_judge",
    ]
    assert suite.monitors[0].windows_ == 24  # type: ignore[attr-defined]
