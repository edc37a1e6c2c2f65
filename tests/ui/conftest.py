"""The UI tests' real server, filled by the demo's simulator, and a Chromium page per test.

One server for the whole folder: 30 days of the simulated loan-default model (drift in
credit_score from day 20), a second version on the last 5 days, monitors set up with daily
windows and every day evaluated (which opens incidents). Playwright drives Debian's Chromium
(``/usr/bin/chromium``, or ``MLWARDEN_CHROMIUM``); screenshots go to ``MLWARDEN_ARTIFACTS``
(default ``build/ui-screenshots``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mlwarden.cli.demo import _post, feed
from mlwarden.cli.simulator import Scenario, Simulation
from serverproc import ServerProcess

MODEL = "loan-default"
DAYS = 30
DRIFT_DAY = 20
CHROMIUM = os.environ.get("MLWARDEN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("MLWARDEN_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "build" / "ui-screenshots"
)


@dataclass
class Demo:
    url: str
    start: datetime
    today: datetime
    events: int
    http: httpx.Client

    @property
    def drift_start(self) -> datetime:
        return self.start + timedelta(days=DRIFT_DAY)


def _second_version(sim: Simulation) -> pa.Table:
    """The last five days again as version v2 (new event ids): a challenger to compare."""
    t = sim.events(DAYS - 5, DAYS)
    ids = pc.binary_join_element_wise("v2-", t.column("event_id"), "")
    t = t.set_column(t.schema.get_field_index("event_id"), "event_id", ids)
    return t.set_column(
        t.schema.get_field_index("version"), "version", pa.array(["v2"] * t.num_rows)
    )


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    srv = ServerProcess(tmp_path_factory.mktemp("ui") / "data", "--evaluate-every", "0").start()
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=DAYS)
        sim = Simulation(
            Scenario(
                days=DAYS,
                events_per_day=800,
                drift_start_day=DRIFT_DAY,
                start=start,
                reference_rows=5000,
            )
        )
        sent = feed(srv.url, sim, now=datetime.now(UTC))
        http = httpx.Client(base_url=srv.url, timeout=600)
        v2 = _second_version(sim)
        _post(http, f"/v1/models/{MODEL}/events", v2)
        r = http.post(f"/v1/models/{MODEL}/monitors/setup", json={"cadence": "1d"})
        assert r.status_code == 200, r.text
        r = http.post(
            f"/v1/models/{MODEL}/evaluate",
            json={"start": start.isoformat(), "end": today.isoformat()},
        )
        assert r.status_code == 200, r.text
        yield Demo(srv.url, start, today, sent["events"] + v2.num_rows, http)
        http.close()
    finally:
        srv.stop()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# package scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which later asyncio.run() calls (the SDK's doctests) must not find
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: install Debian's 'chromium' package "
            "('make test' does) or point MLWARDEN_CHROMIUM at it."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        new_context = b.new_context

        def patient_context(*args: Any, **kwargs: Any) -> Any:
            # a loaded machine (the suite runs servers and browsers side by side) can take far
            # longer than Playwright's 30 s to answer a form post; waits end once the page is there
            context = new_context(*args, **kwargs)
            context.set_default_timeout(180_000)
            context.set_default_navigation_timeout(180_000)
            return context

        b.new_context = patient_context
        yield b
        b.close()


@dataclass
class Page:
    """A browser page that records console errors and uncaught exceptions."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def shot(self, directory: Path, name: str) -> Path:
        path = directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def browser_page(browser: Any, base: str, **options: Any) -> Iterator[Page]:
    """A page in a fresh browser context (1280x900 unless told) that records console errors and
    uncaught exceptions; the context is closed after."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    pg = context.new_page()
    wrapped = Page(pg, base)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            wrapped.errors.append(msg.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: wrapped.errors.append(str(exc)))
    try:
        yield wrapped
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, demo: Demo) -> Iterator[Page]:
    with browser_page(browser, demo.url) as wrapped:
        yield wrapped
