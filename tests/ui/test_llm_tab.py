"""The LLM tab in Chromium against a real server fed with the simulated support bot's traces.

Fourteen days of OTLP/JSON spans (prompts grow on day 10, a jailbreak wave on day 12), the
model registered as an LLM app, its monitors set up with daily windows and evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mlwarden.cli.llm_simulator import LlmScenario, LlmSimulation
from serverproc import ServerProcess
from ui.conftest import Page, browser_page

APP = "support-bot"
M = f"/ui/models/{APP}?tab=llm"
DAYS = 14


@pytest.fixture(scope="module")
def llm_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = ServerProcess(tmp_path_factory.mktemp("llm-ui") / "data", "--evaluate-every", "0").start()
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=DAYS)
        sim = LlmSimulation(
            LlmScenario(days=DAYS, calls_per_day=200, start=start, spike_day=10, injection_day=12)
        )
        with httpx.Client(base_url=srv.url, timeout=300) as http:
            for body in sim.payloads():
                r = http.post(
                    "/v1/traces", content=body, headers={"content-type": "application/json"}
                )
                assert r.status_code == 200, r.text
            r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
            assert r.status_code == 201, r.text
            r = http.post("/v1/models", json={"name": "churn", "task": "binary", "classes": [0, 1]})
            assert r.status_code == 201, r.text
            assert (
                http.post(f"/v1/models/{APP}/monitors/setup", json={"cadence": "1d"}).status_code
                == 200
            )
            r = http.post(
                f"/v1/models/{APP}/evaluate",
                json={"start": start.isoformat(), "end": today.isoformat()},
            )
            assert r.status_code == 200, r.text
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture
def llm_page(browser: Any, llm_app: str) -> Iterator[Page]:
    with browser_page(browser, llm_app) as wrapped:
        yield wrapped


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _trace_rows(page: Page) -> list[str]:
    rows: list[str] = page.page.locator("table.traces tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.trace)"
    )
    return rows


def test_llm_tab_loads_without_console_errors(llm_page: Page, artifacts: Path) -> None:
    response = llm_page.open(M)
    assert response.status == 200
    assert llm_page.page.locator('nav.tabs a[aria-current="page"]').inner_text() == "LLM"
    assert llm_page.page.locator(".plot canvas").count() >= 4  # cost, tokens, users, flags
    assert len(_trace_rows(llm_page)) == 25
    summary = llm_page.page.locator("section.tab > p").first.inner_text()
    assert "LLM calls" in summary and "$" in summary and "e-0" not in summary
    # an LLM app's tabs are the ones that apply to it
    tabs = llm_page.page.locator("nav.tabs a").all_inner_texts()
    assert tabs == ["LLM", "Operations", "Incidents"]
    # costs are dollars written out, axes have distinct ticks, no "None" series
    costs = llm_page.page.locator("table.traces tbody tr td:nth-child(8)").all_inner_texts()
    assert costs and all(c.startswith("$") and "e-" not in c for c in costs), costs
    axes = llm_page.page.locator(".plot").evaluate_all(
        "els => els.map(e => [e.getAttribute('data-chart'), JSON.parse(e.dataset.yLabels)])"
    )
    for chart, labels in axes:
        assert len(set(labels)) == len(labels) >= 2, (chart, labels)
    cost_labels = dict(axes)["chart-llm-cost-model"]
    assert all(label.startswith("$") for label in cost_labels), cost_labels
    assert "None" not in llm_page.page.locator(".u-legend").all_inner_texts()
    # the LLM monitors' heat map shows the cost spike and the jailbreak wave
    statuses = llm_page.page.locator('tr[data-row="llm_cost:cost"] td.cell').evaluate_all(
        "cells => cells.map(c => c.dataset.status)"
    )
    assert "alert" in statuses
    llm_page.shot(artifacts, "llm-tab")
    assert llm_page.errors == []


def test_filters_change_the_url_and_a_reload_restores_the_view(llm_page: Page) -> None:
    llm_page.open(M)
    with llm_page.page.expect_navigation():
        llm_page.page.select_option("#f-flag", "injection")
    assert _query(llm_page.page.url)["flag"] == ["injection"]
    rows = _trace_rows(llm_page)
    assert rows and all(
        "injection" in llm_page.page.locator(f'tr[data-trace="{t}"]').inner_text() for t in rows
    )
    user = llm_page.page.locator("table.traces tbody tr td a").first.inner_text()
    with llm_page.page.expect_navigation():
        llm_page.page.fill("#f-user", user)
        llm_page.page.press("#f-user", "Enter")
    llm_page.page.wait_for_load_state("networkidle")
    q = _query(llm_page.page.url)
    assert q["flag"] == ["injection"] and q["user"] == [user] and q["tab"] == ["llm"]
    filtered = _trace_rows(llm_page)
    assert filtered and set(filtered) <= set(rows) | set(filtered)
    users = llm_page.page.locator("table.traces tbody tr td:nth-child(4)").all_inner_texts()
    assert set(users) == {user}
    url = llm_page.page.url
    llm_page.page.reload()
    llm_page.page.wait_for_load_state("networkidle")
    assert llm_page.page.url == url
    assert llm_page.page.input_value("#f-flag") == "injection"
    assert llm_page.page.input_value("#f-user") == user
    assert _trace_rows(llm_page) == filtered
    assert llm_page.errors == []


def test_a_trace_opens_with_its_span_tree(llm_page: Page, artifacts: Path) -> None:
    llm_page.open(f"{M}&flag=pii_in_prompt")
    first = _trace_rows(llm_page)[0]
    with llm_page.page.expect_navigation():
        llm_page.page.locator(f'tr[data-trace="{first}"] th a').click()
    llm_page.page.wait_for_load_state("networkidle")
    q = _query(llm_page.page.url)
    assert q["trace"] == [first] and q["flag"] == ["pii_in_prompt"]
    trace = llm_page.page.locator("#trace")
    assert first in trace.locator("h3").inner_text()
    # the handler span with its LLM call nested under it
    root = trace.locator("ul.span-tree.root > li.span-node")
    assert root.count() == 1 and root.get_attribute("data-type") == "chain"
    child = root.locator('ul.span-tree > li.span-node[data-type="llm"]')
    assert child.count() == 1
    text = child.inner_text()
    assert "Prompt" in text and "Response" in text and "PII in prompt" in text
    assert "tokens" in text and "cost" in text
    assert (
        llm_page.page.locator(f'tr[data-trace="{first}"]').get_attribute("aria-current") == "true"
    )
    llm_page.shot(artifacts, "llm-trace")
    # pages: the next page of traces, then back
    llm_page.open(M)
    page_one = _trace_rows(llm_page)
    with llm_page.page.expect_navigation():
        llm_page.page.locator('nav.pager a[rel="next"]').click()
    assert _query(llm_page.page.url)["page"] == ["2"]
    assert set(_trace_rows(llm_page)).isdisjoint(page_one)
    assert llm_page.errors == []


def test_only_llm_apps_have_the_tab(llm_app: str) -> None:
    html = httpx.get(f"{llm_app}/ui/models/churn").text
    assert ">LLM</a>" not in html
    # a model without monitors links to setting them up from its empty performance tab
    assert 'href="/ui/models/churn/monitors" id="setup-link"' in html
    app = httpx.get(f"{llm_app}/ui/models/{APP}").text  # an LLM app opens on its LLM tab
    assert ">LLM</a>" in app and 'aria-current="page">LLM<' in app and ">Drift</a>" not in app
    r = httpx.get(f"{llm_app}/ui/models/{APP}?tab=drift")
    assert r.status_code == 422 and "must be one of llm, operations, incidents" in r.text
    r = httpx.get(f"{llm_app}{M}&flag=bogus")
    assert r.status_code == 422 and "The &#39;flag&#39; parameter must be one of any" in r.text


def test_overview_counts_an_llm_apps_monitors_and_spans(llm_app: str) -> None:
    html = httpx.get(f"{llm_app}/ui/").text
    row = html.split(f'data-model="{APP}"')[1].split("</tr>")[0]
    monitors = re.search(r"([\d,]+) monitors?", row)
    assert monitors and int(monitors.group(1).replace(",", "")) >= 5, row
    spans = re.search(r"([\d,]+) spans? on", row)
    assert spans and int(spans.group(1).replace(",", "")) > 0, row
    churn = html.split('data-model="churn"')[1].split("</tr>")[0]
    assert "set up monitors" in churn and "0 events" in churn


def test_evaluate_now_shows_progress_then_what_it_stored(llm_page: Page) -> None:
    llm_page.open(f"/ui/models/{APP}/monitors")
    assert llm_page.page.locator("#evaluate-status").text_content() == ""
    # what the page shows once the submit handler ran, kept across the navigation that follows
    llm_page.page.evaluate(
        """() => document.getElementById('evaluate-form').addEventListener('submit', () => {
            sessionStorage.setItem('busy', document.getElementById('evaluate-now')
                .getAttribute('aria-busy'));
            sessionStorage.setItem('status', document.getElementById('evaluate-status')
                .textContent);
        })"""
    )
    with llm_page.page.expect_navigation(timeout=120_000):
        llm_page.page.get_by_role("button", name="Evaluate now").click()
    llm_page.page.wait_for_load_state("networkidle")
    busy = llm_page.page.evaluate("sessionStorage.getItem('busy')")
    status = llm_page.page.evaluate("sessionStorage.getItem('status')") or ""
    assert busy == "true" and "Evaluating" in status, (busy, status)
    notice = llm_page.page.locator(".notice").inner_text()
    m = re.search(
        r"Evaluated the windows from (\S+ \S+) to (\S+ \S+) UTC: ([\d,]+) results", notice
    )
    assert m and int(m.group(3).replace(",", "")) > 10, notice
    assert llm_page.errors == []


def test_a_cadence_change_shows_one_cadence_at_a_time(llm_page: Page, llm_app: str) -> None:
    # runs last in this module: it moves the app's monitors from daily to 6-hour windows
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with httpx.Client(base_url=llm_app, timeout=300) as http:
        r = http.post(f"/v1/models/{APP}/monitors/setup", json={"cadence": "6h"})
        assert r.status_code == 200, r.text
        r = http.post(
            f"/v1/models/{APP}/evaluate",
            json={"start": (today - timedelta(days=2)).isoformat(), "end": today.isoformat()},
        )
        assert r.status_code == 200, r.text
    llm_page.open(M)
    heads = llm_page.page.locator("table.heat th.day").all_inner_texts()
    assert heads[:4] == ["00", "06", "12", "18"], heads  # 6-hour windows only, by hour
    assert llm_page.page.input_value("#f-cadence") == "6h"
    with llm_page.page.expect_navigation():
        llm_page.page.select_option("#f-cadence", "1d")
    assert _query(llm_page.page.url)["cadence"] == ["1d"]
    days = llm_page.page.locator("table.heat th.day").all_inner_texts()
    assert len(days) >= DAYS // 2 and len(set(days)) == len(days), days  # daily, one per day
    assert llm_page.page.locator("table.heat th.dayhead").count() == 0
    assert llm_page.errors == []
