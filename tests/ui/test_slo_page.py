"""The SLO page in Chromium: a model whose endpoint fails every other probe shows its budget
spent, the page alert, the burn-rate chart against the alert levels, the workbook's windows
and the probe's failed results."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitors.slo_endpoint import Endpoint
from serverproc import ServerProcess


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ep = Endpoint()
    ep.fail_every = 2
    srv = ServerProcess(
        tmp_path_factory.mktemp("slo-ui") / "data",
        "--evaluate-every",
        "1",
        "--alerting-allow-host",
        "127.0.0.1",
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            assert http.post("/v1/models", json={"name": "svc", "task": "regression"}).is_success
            slos = [{"name": "available", "objective": 99.5}]
            assert http.put("/v1/models/svc/slos", json={"slos": slos}).is_success
            probe = {"url": f"http://127.0.0.1:{ep.port}/predict", "method": "POST",
                     "interval_s": 1, "timeout_s": 1}  # fmt: skip
            assert http.put("/v1/models/svc/probes/predict", json=probe).is_success
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = http.get("/v1/models/svc/probes/predict/results").json()["results"]
                if len(rows) >= 4:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the server sent no probes")
        yield srv.url
    finally:
        srv.stop()
        ep.close()


def test_the_slo_page_shows_budget_burn_windows_and_probes(
    browser: Any, server_url: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server_url}/ui/models/svc")
        page.get_by_role("link", name="SLOs").click()
        page.wait_for_url(f"{server_url}/ui/models/svc/slos")
        page.wait_for_selector("[data-chart=chart-slo-available] canvas")  # uPlot drew it
        page.screenshot(path=str(artifacts / "slos.png"), full_page=True)
        assert page.get_by_role("heading", name="SLOs of svc").is_visible()
        section = page.locator("#slo-available")
        assert "99.5% of probes succeed over 30 days" in section.inner_text()
        # half the probes fail against a 0.5% budget: overspent, paging
        left = section.locator(".budget-left").inner_text()
        assert left.startswith("-"), left
        assert section.locator(".slo-level").inner_text().startswith("page")
        windows = section.get_by_role("table", name="Burn rate per alert window of available")
        assert windows.locator("tbody tr").count() == 3
        assert "14.4x" in windows.inner_text() and "1h" in windows.inner_text()
        results = page.get_by_role("table", name="Latest results of probe predict")
        text = results.inner_text()
        assert "HTTP 503, expected 200" in text and "200" in text
        assert errors == []
    finally:
        context.close()
