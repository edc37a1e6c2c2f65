"""The thumbs buttons of a trace in the LLM tab, in Chromium against a real server: a press
records a ``user_feedback`` score (human), shown on the trace; the other button changes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess
from ui.conftest import Page, browser_page

APP = "feedback-ui"
TRACE = "ab" * 16


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = ServerProcess(tmp_path_factory.mktemp("fb-ui") / "data", "--evaluate-every", "0").start()
    try:
        t0 = datetime.now(UTC) - timedelta(hours=2)
        spans = [
            SpanData(TRACE if i == 0 else f"{i:032x}", f"{i + 1:016x}", "chat",
                     int((t0 + timedelta(minutes=i)).timestamp() * 1e9),
                     int((t0 + timedelta(minutes=i, seconds=1)).timestamp() * 1e9),
                     attributes={"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"})
            for i in range(3)
        ]  # fmt: skip
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            body = encode_json(spans, resource={"service.name": APP})
            r = http.post("/v1/traces", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
            assert r.status_code == 201, r.text
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture
def fb_page(browser: Any, app_url: str) -> Iterator[Page]:
    with browser_page(browser, app_url) as wrapped:
        yield wrapped


def _feedback(url: str) -> list[dict[str, Any]]:
    got = httpx.get(f"{url}/v1/llm/scores", params={"trace_id": TRACE, "name": "user_feedback"})
    scores: list[dict[str, Any]] = got.json()["scores"]
    return scores


def test_thumbs_down_then_up_records_one_human_vote(fb_page: Page, app_url: str) -> None:
    r = fb_page.open(f"/ui/models/{APP}?tab=llm&trace={TRACE}#trace")
    assert r.status == 200
    form = fb_page.page.locator("#trace-feedback")
    assert form.count() == 1
    with fb_page.page.expect_navigation():
        form.get_by_role("button", name="Thumbs down").click()
    assert "trace=" + TRACE in fb_page.page.url  # back on the same trace
    row = fb_page.page.locator("table.scores tr[data-score='user_feedback']")
    assert row.locator("td").first.inner_text() == "false"
    assert [(s["value"], s["source"]) for s in _feedback(app_url)] == [(False, "human")]
    with fb_page.page.expect_navigation():
        fb_page.page.locator("#trace-feedback").get_by_role("button", name="Thumbs up").click()
    assert (
        fb_page.page.locator("table.scores tr[data-score='user_feedback'] td").first.inner_text()
        == "true"
    )
    assert [s["value"] for s in _feedback(app_url)] == [True]  # the vote changed, not added
    assert fb_page.errors == []
