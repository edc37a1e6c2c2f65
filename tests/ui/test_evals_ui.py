"""Evaluation pages in Chromium against a real server: a trace of the LLM tab added to a
dataset with its form, the datasets list, and two runs compared side by side with the
p-value of McNemar's exact test (scipy's on the same counts)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from scipy import stats

from llm.fake_openai import fake_openai
from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess
from ui.conftest import Page, browser_page

APP = "evals-ui"
TRACE = "cd" * 16
OTHER = "ef" * 16
N = 12


def _run(http: httpx.Client, url: str, prompt: str, name: str) -> str:
    body = {"name": name, "dataset": "cmp",
            "task": {"kind": "endpoint", "endpoint": url, "model": "m-echo", "prompt": prompt},
            "evaluators": [{"kind": "exact_match"}]}  # fmt: skip
    r = http.post("/v1/llm/experiments", json=body)
    assert r.status_code == 202, r.text
    run_id: str = r.json()["id"]
    for _ in range(600):
        if http.get(f"/v1/llm/experiments/{run_id}").json()["status"] == "done":
            return run_id
        time.sleep(0.05)
    raise AssertionError(f"run {name} did not finish")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("evals-ui") / "data"
    srv = ServerProcess(data, "--evaluate-every", "0", "--alerting-allow-host", "127.0.0.1").start()
    try:
        t0 = datetime.now(UTC) - timedelta(hours=1)
        ns = int(t0.timestamp() * 1e9)
        attrs = {"gen_ai.request.model": "m", "gen_ai.operation.name": "chat",
                 "gen_ai.prompt": json.dumps([{"role": "user", "content": "What is 2+2?"}]),
                 "gen_ai.completion": json.dumps([{"role": "assistant", "content": "4"}])}  # fmt: skip
        spans = [SpanData(TRACE, "1" * 16, "chat", ns, ns + 10**9, attributes=attrs),
                 SpanData(OTHER, "2" * 16, "chat", ns + 10**9, ns + 2 * 10**9, attributes=attrs)]  # fmt: skip
        # items 0-8 echo the question (= expected) with prompt A, items 0-3 with prompt B too
        items = [{"input": f"q{i}", "expected_output": f"q{i}",
                  "context": [f"q{i}" if i < 4 else f"p{i}"]} for i in range(N)]  # fmt: skip
        for i in range(9, N):
            items[i]["expected_output"] = f"p{i}"
        with httpx.Client(base_url=srv.url, timeout=60) as http, fake_openai() as fake:
            body = encode_json(spans, resource={"service.name": APP})
            r = http.post("/v1/traces", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
            assert r.status_code == 201, r.text
            assert http.post("/v1/llm/datasets", json={"name": "cmp"}).status_code == 201
            r = http.post("/v1/llm/datasets/cmp/items", json={"items": items})
            assert r.status_code == 200, r.text
            _run(http, fake.base_url, "{input}", "prompt-a")
            _run(http, fake.base_url, "{context}", "prompt-b")
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture
def ev_page(browser: Any, app_url: str) -> Iterator[Page]:
    with browser_page(browser, app_url) as wrapped:
        yield wrapped


def test_a_trace_is_added_to_a_dataset_from_the_llm_tab(ev_page: Page, app_url: str) -> None:
    assert ev_page.open(f"/ui/models/{APP}?tab=llm&trace={TRACE}#trace").status == 200
    form = ev_page.page.locator("#trace-to-dataset")
    form.get_by_label("Add its LLM calls to dataset").fill("from-ui")
    with ev_page.page.expect_navigation():
        form.get_by_role("button", name="Add to dataset").click()
    assert "trace=" + TRACE in ev_page.page.url
    ds = httpx.get(f"{app_url}/v1/llm/datasets/from-ui").json()
    assert [(i["source_trace_id"], i["input"], i["output"]) for i in ds["page"]] == [
        (TRACE, "user: What is 2+2?", "4")
    ]
    # several traces ticked in the traces table at once
    assert ev_page.open(f"/ui/models/{APP}?tab=llm").status == 200
    for trace in (TRACE, OTHER):
        ev_page.page.get_by_label(f"Select trace {trace[:12]}").check()
    picked = ev_page.page.locator("#traces-to-dataset")
    picked.get_by_label("Add the selected traces' LLM calls to dataset").fill("picked")
    with ev_page.page.expect_navigation():
        picked.get_by_role("button", name="Add selected to dataset").click()
    assert "tab=llm" in ev_page.page.url
    ds = httpx.get(f"{app_url}/v1/llm/datasets/picked").json()
    assert sorted(i["source_trace_id"] for i in ds["page"]) == sorted([TRACE, OTHER])
    assert ev_page.open("/ui/datasets").status == 200
    links = ev_page.page.locator("table.datasets a").all_inner_texts()
    assert links == ["cmp", "from-ui", "picked"]
    assert ev_page.errors == []


def test_two_runs_compared_side_by_side_with_the_p_value(ev_page: Page) -> None:
    assert ev_page.open("/ui/datasets/cmp").status == 200
    assert ev_page.page.locator("table.items tbody tr").count() == N
    with ev_page.page.expect_navigation():
        ev_page.page.locator("#compare-form").get_by_role("button", name="Compare").click()
    assert "/ui/experiments/compare?" in ev_page.page.url
    row = ev_page.page.locator("table.comparison tbody tr")
    assert row.count() == 1
    # A passes items 0-8, B items 0-3 and 9-11: 5 pass in A only, 3 in B only
    want = f"{stats.binomtest(3, 8, 0.5).pvalue:.3g}"
    assert row.locator("td.p-value").inner_text().strip() == want
    assert row.locator("td").nth(5).inner_text() == "3 / 5"
    assert ev_page.page.locator("table.item-diff tbody tr").count() == N
    assert ev_page.errors == []
