"""Evaluations through the real server: datasets (uploaded, from traces, versioned), experiment
runs against the local fake OpenAI server (a task per item and an LLM judge), and two runs
compared with paired tests whose p-values match scipy's on the same per-item values."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI
from fastapi.routing import APIRoute
from scipy import stats

from mlwarden.errors import ConflictError, NotFoundError, ValidationError
from mlwarden.schema.otlp import SpanData, encode_json
from mlwarden.sdk.evals import EvalClient
from serverproc import ServerProcess

N = 50


@pytest.fixture(scope="module")
def evals_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server allowed to call the fake endpoints on loopback (the destination policy)."""
    data = tmp_path_factory.mktemp("evals") / "data"
    srv = ServerProcess(data, "--alerting-allow-host", "127.0.0.1").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def http(evals_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=evals_server.url, timeout=60) as client:
        yield client


def _wait(http: httpx.Client, run_id: str) -> dict[str, Any]:
    """The run once it has finished (bounded: 600 polls)."""
    for _ in range(600):
        r = http.get(f"/v1/llm/experiments/{run_id}")
        assert r.status_code == 200, r.text
        run: dict[str, Any] = r.json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def _item(i: int) -> dict[str, Any]:
    """Inputs apologise on every third item, contexts on four items in five (the fake judge
    scores an answer that says "sorry" 1, any other 5)."""
    question = f"question {i}" + (" sorry" if i % 3 == 0 else "")
    passage = f"passage {i}" + (" sorry" if i % 5 else "")
    return {"input": question, "expected_output": question, "context": [passage],
            "metadata": {"i": i}}  # fmt: skip


def _start(http: httpx.Client, fake: FakeOpenAI, prompt: str, name: str) -> str:
    body = {
        "name": name,
        "dataset": "two-prompts",
        "task": {"kind": "endpoint", "endpoint": fake.base_url, "model": "gpt-4o-mini-echo",
                 "prompt": prompt},
        "evaluators": [
            {"kind": "exact_match"},
            {"kind": "llm_judge", "template": "answer_relevance", "endpoint": fake.base_url,
             "model": "judge"},
        ],
    }  # fmt: skip
    r = http.post("/v1/llm/experiments", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["total"] == N
    run_id: str = r.json()["id"]
    return run_id


def test_two_prompts_on_50_items_differ_per_item_and_in_aggregate_with_scipys_p_values(
    http: httpx.Client, fake: FakeOpenAI
) -> None:
    assert http.post("/v1/llm/datasets", json={"name": "two-prompts"}).status_code == 201
    body = "\n".join(json.dumps(_item(i)) for i in range(N)).encode()
    r = http.post("/v1/llm/datasets/two-prompts/upload", content=body,
                  headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["added"], r.json()["rejected"]) == (1, N, [])

    a = _start(http, fake, "{input}", "prompt A: the question")
    b = _start(http, fake, "{context}", "prompt B: the passage")
    run_a, run_b = _wait(http, a), _wait(http, b)
    for run in (run_a, run_b):
        assert (run["status"], run["done"], run["error"]) == ("done", N, None)
        # task and judge calls priced: 128 tokens per echo, 220 per judge call
        assert run["tokens"] == N * (128 + 220)
        assert run["cost"] > 0
        judge = next(s for s in run["summary"] if s["evaluator"] == "answer_relevance")
        assert judge["graded"] == N
        assert judge["templates"][0].startswith("answer_relevance@1#")
        assert all(g["cost"] > 0 and g["tokens"] == 220 for g in
                   (x["grades"]["answer_relevance"] for x in run["results"]))  # fmt: skip

    r = http.get(f"/v1/llm/experiments/{a}/compare/{b}")
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["items"]) == N
    by = {e["evaluator"]: e for e in out["evaluators"]}

    exact = by["exact_match"]  # A echoes the question (= expected output), B the passage
    assert (exact["test"], exact["n"], exact["a_only"], exact["b_only"]) == (
        "mcnemar_exact",
        N,
        N,
        0,
    )
    assert exact["mean_a"] == 1.0 and exact["mean_b"] == 0.0
    assert exact["p_value"] == pytest.approx(stats.binomtest(0, N, 0.5).pvalue, rel=1e-9)

    want_a = [1.0 if i % 3 == 0 else 5.0 for i in range(N)]
    want_b = [1.0 if i % 5 else 5.0 for i in range(N)]
    rows = {row["input"]: row for row in out["items"]}
    got_a = [rows[_item(i)["input"]]["grades"]["answer_relevance"]["a"] for i in range(N)]
    got_b = [rows[_item(i)["input"]]["grades"]["answer_relevance"]["b"] for i in range(N)]
    assert (got_a, got_b) == (want_a, want_b)
    assert rows["question 15 sorry"]["grades"]["answer_relevance"]["diff"] == 4.0
    assert rows["question 4"]["grades"]["answer_relevance"]["diff"] == -4.0
    assert rows["question 4"]["output_b"] == "passage 4 sorry"

    judged = by["answer_relevance"]
    assert judged["test"] == "wilcoxon" and judged["n"] == N
    # better in B: i divisible by 15; worse: i divisible by neither 3 nor 5
    assert (judged["improved"], judged["regressed"]) == (4, 27)
    assert judged["mean_a"] == pytest.approx(sum(want_a) / N)
    assert judged["diff"] == pytest.approx((sum(want_b) - sum(want_a)) / N)
    lo, hi = judged["ci_diff"]
    assert lo < judged["diff"] < hi
    assert judged["p_value"] == pytest.approx(stats.wilcoxon(want_b, want_a).pvalue, rel=1e-9)
    assert judged["t_test_p"] == pytest.approx(stats.ttest_rel(want_b, want_a).pvalue, rel=1e-9)
    assert judged["p_value"] < 0.05


def _span(i: int, text: str, answer: str) -> SpanData:
    ns = time.time_ns() - (10 - i) * 1_000_000_000
    attrs = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.operation.name": "chat",
             "gen_ai.prompt": json.dumps([{"role": "user", "content": text}]),
             "gen_ai.completion": json.dumps([{"role": "assistant", "content": answer}])}  # fmt: skip
    return SpanData(f"{i:032x}", f"{i:016x}", "chat", ns, ns + 1_000_000, attributes=attrs)


def test_datasets_from_traces_are_versioned_and_stored_outputs_are_graded(
    http: httpx.Client,
) -> None:
    spans = [_span(1, "mail me at ann@example.org", "Sure."), _span(2, "hi", "Hello there!"),
             _span(3, "2+2?", "4")]  # fmt: skip
    r = http.post("/v1/traces", content=encode_json(spans, resource={"service.name": "bot"}),
                  headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert http.post("/v1/llm/datasets", json={"name": "from-traces"}).status_code == 201
    r = http.post(
        "/v1/llm/datasets/from-traces/items", json={"span_ids": [f"{1:016x}", f"{2:016x}"]}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["added"], r.json()["replaced"]) == (1, 2, 0)
    r = http.post("/v1/llm/datasets/from-traces/items", json={"filter": {"model": "gpt-4o-mini"}})
    assert (r.json()["version"], r.json()["added"], r.json()["replaced"]) == (2, 3, 2)
    v1 = http.get("/v1/llm/datasets/from-traces", params={"version": 1}).json()
    assert (v1["shown_version"], v1["total"], v1["version"]) == (1, 2, 2)
    assert {i["source_span_id"] for i in v1["page"]} == {f"{1:016x}", f"{2:016x}"}
    latest = http.get("/v1/llm/datasets/from-traces").json()
    assert latest["total"] == 3
    first = next(i for i in latest["page"] if i["source_span_id"] == f"{1:016x}")
    assert "ann@example.org" in first["input"] and first["output"] == "Sure."

    r = http.post("/v1/llm/experiments", json={
        "dataset": "from-traces", "version": 2,
        "evaluators": [{"kind": "pii", "field": "input"}, {"kind": "regex", "pattern": r"\d"},
                       {"kind": "json_schema", "schema": {"type": "integer"}}]})  # fmt: skip
    assert r.status_code == 202, r.text
    run = _wait(http, r.json()["id"])
    assert run["status"] == "done" and run["tokens"] == 0
    by = {x["item_id"]: x for x in run["results"]}
    one = by[f"span-{1:032x}-{1:016x}"]["grades"]
    assert one["pii"]["passed"] is False and "email" in one["pii"]["detail"]
    three = by[f"span-{3:032x}-{3:016x}"]["grades"]
    assert three["regex"]["passed"] and three["json_schema"]["passed"]
    two = by[f"span-{2:032x}-{2:016x}"]["grades"]
    assert (
        two["json_schema"]["passed"] is False
        and two["json_schema"]["detail"] == "the output is not JSON"
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"evaluators": [{"kind": "bleu"}]}, "'evaluator' kind must be one of"),
        ({"evaluators": [{"kind": "regex", "pattern": "("}]}, "'pattern' parameter of evaluator 'regex'"),
        ({"evaluators": [{"kind": "regex"}]}, "'pattern' parameter of evaluator 'regex' is required"),
        ({"evaluators": [{"kind": "exact_match", "case": 1}]}, "'case' parameter of evaluator"),
        ({"evaluators": [{"kind": "json_schema", "schema": {"type": "object", "oneOf": []}}]},
         "'oneOf' is not supported"),
        ({"evaluators": [{"kind": "llm_judge", "template": "vibes", "endpoint": "http://127.0.0.1:9/v1",
                          "model": "j"}]}, "'template' parameter of evaluator 'llm_judge'"),
        ({"task": {"kind": "endpoint", "endpoint": "http://127.0.0.1:9/v1", "model": "m",
                   "prompt": "no slot"}, "evaluators": [{"kind": "pii"}]}, "'task.prompt' field"),
        ({"task": {"kind": "endpoint", "endpoint": "http://10.1.2.3/v1", "model": "m",
                   "prompt": "{input}"}, "evaluators": [{"kind": "pii"}]}, "destination policy"),
        ({"task": {"kind": "magic"}, "evaluators": [{"kind": "pii"}]}, "'task.kind' field"),
    ],
)  # fmt: skip
def test_bad_experiments_get_422_naming_the_field(
    http: httpx.Client, body: dict[str, Any], words: str
) -> None:
    r = http.post("/v1/llm/experiments", json={"dataset": "two-prompts", **body})
    assert r.status_code == 422, r.text
    assert words in r.text


def test_bad_datasets_and_uploads_get_clear_errors(http: httpx.Client) -> None:
    assert http.post("/v1/llm/datasets", json={"name": "bad name!"}).status_code == 422
    assert http.post("/v1/llm/datasets", json={"name": "two-prompts"}).status_code == 409
    assert http.get("/v1/llm/datasets/nope").status_code == 404
    assert http.post("/v1/llm/datasets", json={"name": "uploads"}).status_code == 201
    csv = b"question,answer\nhi,hello\n"
    r = http.post(
        "/v1/llm/datasets/uploads/upload", content=csv, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422 and "'input' CSV header" in r.text
    r = http.post("/v1/llm/datasets/uploads/upload", content=b'{"input": "a"}\nnot json\n',
                  headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert r.status_code == 422 and "Line 2" in r.text
    r = http.post("/v1/llm/datasets/uploads/items", json={"items": [{"output": "x"}, {"input": 3}]})
    assert r.status_code == 422 and "'input' field is required" in r.text
    r = http.post(
        "/v1/llm/datasets/uploads/items", json={"items": [{"input": "ok"}, {"input": ""}]}
    )
    assert r.status_code == 200 and r.json()["added"] == 1
    assert r.json()["rejected"][0]["index"] == 1
    r = http.post("/v1/llm/datasets/uploads/items", json={"items": [], "span_ids": ["x"]})
    assert r.status_code == 422 and "exactly one of" in r.text
    csv = b'input,context,expected_output\nq,"[""p1"", ""p2""]",a\n'
    r = http.post(
        "/v1/llm/datasets/uploads/upload", content=csv, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    page = http.get("/v1/llm/datasets/uploads").json()["page"]
    assert next(i for i in page if i["input"] == "q")["context"] == ["p1", "p2"]
    r = http.post("/v1/llm/experiments", json={"dataset": "uploads", "version": 9,
                                                "evaluators": [{"kind": "pii"}]})  # fmt: skip
    assert r.status_code == 404 and "no version 9" in r.text


def test_the_sdk_and_the_cli_run_and_compare_experiments(
    evals_server: ServerProcess, tmp_path: Path
) -> None:
    with EvalClient(evals_server.url) as ev:
        assert ev.create_dataset("sdk", exist_ok=True)["version"] == 0
        assert ev.create_dataset("sdk", exist_ok=True)["name"] == "sdk"  # no conflict
        with pytest.raises(ConflictError):
            ev.create_dataset("sdk")
        items = [{"input": f"q{i}", "output": "yes" if i % 4 else "no", "expected_output": "yes"}
                 for i in range(8)]  # fmt: skip
        assert ev.add_items("sdk", items=items)["version"] == 1
        seen: list[int] = []
        base = ev.run("sdk", evaluators=[{"kind": "regex", "pattern": "^no$"}], name="base",
                      on_progress=lambda r: seen.append(r["done"]))  # fmt: skip
        assert base["status"] == "done" and seen[-1] == 8
        with pytest.raises(ValidationError, match="'ignore_case' parameter of evaluator"):
            ev.start("sdk", evaluators=[{"kind": "exact_match", "ignore_case": "yes"}])
        with pytest.raises(NotFoundError):
            ev.dataset("missing")
    spec = tmp_path / "run.yaml"
    spec.write_text(
        "dataset: sdk\nname: exact\nevaluators:\n  - kind: regex\n    pattern: '^yes$'\n"
    )
    cli = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "evals", "run", str(spec), "--url",
         evals_server.url, "--baseline", base["id"]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "done, 8 of 8 items" in cli.stdout
    # regex '^no$' passes items 0 and 4, '^yes$' the six others: McNemar on 2 + 6 discordant
    assert f"{stats.binomtest(6, 8, 0.5).pvalue:.3g}" in cli.stdout
    assert "mcnemar_exact" in cli.stdout


def test_reads_need_read_and_changes_need_operate() -> None:
    from mlwarden.server import routes_evals
    from mlwarden.store.keys import Scope

    scopes = {
        (m, r.path): [d.call.scope for d in r.dependant.dependencies if hasattr(d.call, "scope")]
        for r in routes_evals.router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    }
    assert len(scopes) == 10
    for (method, path), found in scopes.items():
        want = Scope.READ if method == "GET" else Scope.OPERATE
        assert found == [want], (method, path)
