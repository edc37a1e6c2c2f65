"""An LLM app's sessions, users, dashboard, review queue and prices in Chromium against a real
server fed with :mod:`llm.conversations` (calls exported before their trace's root)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from llm import conversations as conv
from serverproc import ServerProcess
from ui.conftest import Page, browser_page

M = f"/ui/models/{conv.APP}"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = ServerProcess(tmp_path_factory.mktemp("views-ui") / "data", "--evaluate-every", "0")
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            conv.send(http)
            r = http.post("/v1/llm/scores", json={"trace_id": conv.ANN_TRACES[0],
                          "name": "helpfulness", "value": 4, "comment": "clear"})  # fmt: skip
            assert r.status_code == 200, r.text
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture
def ui(browser: Any, app_url: str) -> Iterator[Page]:
    with browser_page(browser, app_url) as wrapped:
        yield wrapped


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _reviews(url: str, trace: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/v1/llm/scores", params={"trace_id": trace, "name": "review"})
    scores: list[dict[str, Any]] = r.json()["scores"]
    return scores


def test_a_session_opens_as_its_conversation(ui: Page) -> None:
    assert ui.open(f"{M}/sessions?user=ann").status == 200
    rows = ui.page.locator("table.sessions tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.session)") == ["s-ann"]
    with ui.page.expect_navigation():
        rows.first.get_by_role("link", name="s-ann").click()
    assert urlsplit(ui.page.url).path == f"{M}/sessions/s-ann"
    turns = ui.page.locator("ol.conversation li.turn")
    assert turns.evaluate_all("ts => ts.map(t => t.dataset.trace)") == conv.ANN_TRACES
    assert turns.locator("pre.question").all_inner_texts() == conv.QUESTIONS
    assert turns.locator("pre.answer").all_inner_texts() == conv.ANSWERS
    assert turns.nth(1).locator(".badge.flag").inner_text() == "refusal"
    assert turns.nth(0).locator(".badge.flag").count() == 0
    assert turns.nth(2).locator(".ttft").inner_text() == "750 ms"
    assert "helpfulness 4" in turns.nth(0).locator("li[data-score='helpfulness']").inner_text()
    assert "3 turns, 3 LLM calls by ann" in ui.page.locator("#session-summary").inner_text()
    assert ui.errors == []


def test_users_sort_filter_and_link_to_their_sessions(ui: Page) -> None:
    ui.open(f"{M}/users")
    users = ui.page.locator("table.users tbody tr")
    assert users.evaluate_all("rs => rs.map(r => r.dataset.user)") == ["bob", "ann"]  # by cost
    with ui.page.expect_navigation():
        ui.page.locator("a[data-sort='calls']").click()
    assert _query(ui.page.url)["sort"] == ["calls"]
    assert users.evaluate_all("rs => rs.map(r => r.dataset.user)") == ["ann", "bob"]
    with ui.page.expect_navigation():
        ui.page.select_option("#f-flagged", "yes")  # filters submit on change
    assert users.evaluate_all("rs => rs.map(r => r.dataset.user)") == ["ann"]
    assert _query(ui.page.url)["sort"] == ["calls"]  # the sort stays in the URL
    with ui.page.expect_navigation():
        users.first.get_by_role("link", name="ann").click()
    assert urlsplit(ui.page.url).path == f"{M}/users/ann"
    assert "1 / 3" in ui.page.locator("#user-facts").inner_text()  # sessions / traces
    with ui.page.expect_navigation():
        ui.page.locator("table.sessions").get_by_role("link", name="s-ann").click()
    assert urlsplit(ui.page.url).path == f"{M}/sessions/s-ann"
    assert ui.errors == []


def test_dashboard_group_by_selector_keeps_its_state_in_the_url(ui: Page) -> None:
    ui.open(f"{M}/dashboard")
    table = ui.page.locator("table.breakdown")
    assert table.get_attribute("data-by") == "model"
    keys = "rs => rs.map(r => r.dataset.key)"
    assert table.locator("tbody tr").evaluate_all(keys) == ["gpt-4o", "gpt-4o-mini"]
    with ui.page.expect_navigation():
        ui.page.select_option("#f-by", "route")
    assert _query(ui.page.url)["by"] == ["route"]
    ui.page.wait_for_load_state("networkidle")
    assert table.get_attribute("data-by") == "route"
    rows = table.locator("tbody tr")
    assert rows.evaluate_all(keys) == ["/search", "/chat"]
    assert rows.nth(0).locator(".error-rate").inner_text() == "100.0%"
    assert rows.nth(1).locator(".flag-rate").inner_text() == "33.3%"
    assert ui.page.locator("[data-chart]").count() == 6
    ui.page.wait_for_selector("[data-chart] canvas")  # uPlot drew the charts
    with ui.page.expect_navigation():
        ui.page.select_option("#f-by", "prompt_version")
    assert rows.evaluate_all(keys) == ["1", "2"]
    ui.page.reload()  # the URL alone reproduces the view
    assert ui.page.locator("#f-by").input_value() == "prompt_version"
    assert ui.errors == []


def test_review_queue_keyboard_shortcuts_write_human_scores(ui: Page, app_url: str) -> None:
    ui.open(f"{M}/review")
    card = ui.page.locator("#review")
    flagged = conv.ANN_TRACES[1]
    assert card.get_attribute("data-trace") == flagged  # the flagged trace comes first
    ui.page.keyboard.press("n")
    assert ui.page.evaluate("document.activeElement.id") == "review-note"
    ui.page.keyboard.type("refused a harmless question? check")
    ui.page.keyboard.press("Escape")
    with ui.page.expect_navigation():
        ui.page.keyboard.press("1")
    assert [(s["value"], s["source"], s["comment"]) for s in _reviews(app_url, flagged)] == [
        (False, "human", "refused a harmless question? check")
    ]
    ui.page.wait_for_load_state("networkidle")
    second = card.get_attribute("data-trace")
    assert second not in (None, flagged)
    assert flagged not in ui.page.locator("#review-title").inner_text()
    with ui.page.expect_navigation():
        ui.page.keyboard.press("j")
    third = card.get_attribute("data-trace")
    assert third != second and _query(ui.page.url)["trace"] == [third]
    with ui.page.expect_navigation():
        ui.page.keyboard.press("k")
    assert card.get_attribute("data-trace") == second
    with ui.page.expect_navigation():
        ui.page.keyboard.press("2")
    assert [(s["value"], s["comment"]) for s in _reviews(app_url, second)] == [(True, None)]
    assert ui.errors == []


def test_a_price_set_in_the_form_is_listed_and_used(ui: Page, app_url: str) -> None:
    ui.open("/ui/prices")
    form = ui.page.locator("#price-form")
    form.locator("#p-model").fill("Acme-UI-Model")
    form.locator("#p-unit").select_option("per_token")
    form.locator("#p-input").fill("0.000001")
    form.locator("#p-output").fill("0.000004")
    with ui.page.expect_navigation():
        form.get_by_role("button", name="Set price").click()
    row = ui.page.locator("table.overrides tr[data-model='acme-ui-model'] td")
    assert row.all_inner_texts()[:2] == ["1", "4"]  # per million
    got = httpx.get(f"{app_url}/v1/llm/prices").json()["overrides"]
    assert got == {"acme-ui-model": {"input": "1", "output": "4"}}
    form = ui.page.locator("#price-form")
    form.locator("#p-model").fill("bad")
    form.locator("#p-input").fill("-1")
    form.locator("#p-output").fill("1")
    with ui.page.expect_navigation():
        form.get_by_role("button", name="Set price").click()
    assert "input" in ui.page.locator("main").inner_text()  # the error names the field
    assert "bad" not in httpx.get(f"{app_url}/v1/llm/prices").json()["overrides"]
