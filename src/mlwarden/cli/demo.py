"""``mlwarden demo``: the real server on the embedded default, fed a simulated model.

It starts the server on loopback with a DuckDB file, registers the simulated
``loan-default`` classifier with its reference, replays its production traffic
(drift beginning partway through) over HTTP as Arrow batches, sends the labels
that have arrived by "now" (they come three days late), and prints what the
server saw, week by week, which monitors fired, and the incidents they were grouped into
(with their causes and recommendation). Then it keeps serving until Ctrl-C, the web UI on
``/ui``.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.errors import TransportError
from mlwarden.sdk.http import ipc_bytes
from mlwarden.sdk.resources import resources_spec
from mlwarden.server.run import BackgroundServer
from mlwarden.server.settings import ServerSettings

__all__ = ["feed", "run_demo"]

ARROW = "application/vnd.apache.arrow.stream"
#: Days of the backfill per evaluate request (the demo shows progress between them).
EVALUATE_DAYS = 7


def _post(http: httpx.Client, path: str, table: pa.Table) -> dict[str, object]:
    r = http.post(path, content=ipc_bytes(table), headers={"content-type": ARROW})
    if r.status_code not in (200, 201, 207):
        raise TransportError(f"POST {path} failed with HTTP {r.status_code}: {r.text[:300]}")
    out: dict[str, object] = r.json()
    return out


def feed(
    url: str,
    sim: Simulation,
    *,
    now: datetime,
    batch_size: int = 5000,
    console: Console | None = None,
) -> dict[str, int]:
    """Register the simulated model and send its reference, events, arrived labels and its
    servers' resource samples (to ``<model>.resources``, as the SDK's sampler would)."""
    console = console or Console(stderr=True)
    name = sim.spec_columns["name"]
    sent = labels = 0
    with httpx.Client(base_url=url, timeout=120) as http:
        r = http.post("/v1/models", json=sim.spec_columns)
        if r.status_code != 201:
            raise TransportError(
                f"Registering the model failed with HTTP {r.status_code}: {r.text[:300]}"
            )
        ref = sim.reference()
        _post(http, f"/v1/models/{name}/reference?version=v1&name=training", ref)
        total = sim.scenario.days * sim.scenario.events_per_day
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("events", total=total)
            for batch in sim.iter_batches(batch_size=batch_size):
                _post(http, f"/v1/models/{name}/events", batch)
                sent += batch.num_rows
                progress.update(task, advance=batch.num_rows)
            actuals = sim.actuals(available_at=now)
            task = progress.add_task("labels", total=actuals.num_rows)
            for start in range(0, actuals.num_rows, batch_size):
                chunk = actuals.slice(start, batch_size)
                _post(http, f"/v1/models/{name}/actuals", chunk)
                labels += chunk.num_rows
                progress.update(task, advance=chunk.num_rows)
        companion = resources_spec(name)
        r = http.post(
            "/v1/models",
            content=companion.model_dump_json(),
            headers={"content-type": "application/json"},
        )
        if r.status_code != 201:
            raise TransportError(
                f"Registering {companion.name} failed with HTTP {r.status_code}: {r.text[:300]}"
            )
        _post(http, f"/v1/models/{companion.name}/events", sim.resources())
    return {"events": sent, "labels": labels, "reference": ref.num_rows}


def summary_table(url: str, name: str, drift_start: datetime | None) -> Table:
    """Week by week: traffic, labelled share, accuracy and mean credit score, from the query API."""
    with httpx.Client(base_url=url, timeout=60) as http:
        counts = http.get(
            f"/v1/models/{name}/counts", params={"window": "week", "version": "v1"}
        ).json()
        conf = http.get(f"/v1/models/{name}/confusion", params={"window": "week"}).json()
        table = Table(title=f"{name}: what the server saw, week by week")
        for col in ("week of", "events", "labelled", "accuracy", "mean credit_score", ""):
            table.add_column(col, justify="right" if col not in ("week of", "") else "left")
        for row in counts:
            start = row["window_start"]
            cells = [c for c in conf if c["window_start"] == start]
            n = sum(c["n"] for c in cells)
            correct = sum(c["n"] for c in cells if c["prediction"] == c["actual"])
            week_end = datetime.fromisoformat(start) + timedelta(days=7)
            col = http.get(
                f"/v1/models/{name}/columns/credit_score",
                params={"start": start, "end": week_end.isoformat()},
            ).json()
            mean = (
                col["sum"] / (col["n"] - col["nulls"]) if col["n"] > col["nulls"] else float("nan")
            )
            flag = ""
            if drift_start is not None and week_end.replace(tzinfo=UTC) > drift_start:
                flag = "drift"
            table.add_row(
                start[:10],
                f"{row['events']:,}",
                f"{row['labelled']:,}",
                f"{correct / n:.1%}" if n else "-",
                f"{mean:.1f}",
                flag,
            )
    return table


def monitor(
    url: str, name: str, start: datetime, end: datetime, *, console: Console | None = None
) -> list[dict[str, object]]:
    """Auto set-up (thresholds calibrated to the default budget), a backfill a week at a time
    (with a progress bar on ``console``), and the alerts."""
    console = console or Console(stderr=True)
    with httpx.Client(base_url=url, timeout=600) as http:
        with console.status("Setting monitors up from the reference (thresholds calibrated)..."):
            r = http.post(f"/v1/models/{name}/monitors/setup", json={"cadence": "1d"})
        if r.status_code != 200:
            raise TransportError(
                f"Setting monitors up failed with HTTP {r.status_code}: {r.text[:300]}"
            )
        days = max(1, math.ceil((end - start) / timedelta(days=1)))
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("days evaluated", total=days)
            for first in range(0, days, EVALUATE_DAYS):
                a = start + timedelta(days=first)
                b = min(end, start + timedelta(days=first + EVALUATE_DAYS))
                r = http.post(
                    f"/v1/models/{name}/evaluate",
                    json={"start": a.isoformat(), "end": b.isoformat()},
                )
                if r.status_code != 200:
                    raise TransportError(
                        f"Evaluating monitors failed with HTTP {r.status_code}: {r.text[:300]}"
                    )
                progress.update(task, advance=min(EVALUATE_DAYS, days - first))
        alerts: list[dict[str, object]] = http.get(
            f"/v1/models/{name}/results", params={"status": "alert", "limit": 10_000}
        ).json()
    return alerts


def alerts_table(alerts: list[dict[str, object]], start: datetime, drift_day: int | None) -> Table:
    """Each monitor that fired: first day, how many days, and why (first alert)."""
    first: dict[str, dict[str, object]] = {}
    days: dict[str, int] = {}
    for a in sorted(alerts, key=lambda a: str(a["window_start"])):
        m = str(a["monitor"])
        first.setdefault(m, a)
        days[m] = days.get(m, 0) + 1
    title = "Monitors that fired (set up automatically; thresholds calibrated to 1 false alert / 30 days)"
    table = Table(title=title)
    for col in ("monitor", "first alert", "day", "days alerting", "why (first alert)"):
        table.add_column(col)
    for m, a in sorted(first.items(), key=lambda kv: str(kv[1]["window_start"])):
        when = datetime.fromisoformat(str(a["window_start"])).replace(tzinfo=UTC)
        day = (when - start).days
        mark = "" if drift_day is None or day >= drift_day else " (before drift)"
        table.add_row(m, when.strftime("%Y-%m-%d"), f"{day}{mark}", str(days[m]), str(a["reason"]))
    if not first:
        table.add_row("(none)", "", "", "", "no monitor fired")
    return table


def incidents_of(url: str, name: str) -> list[dict[str, object]]:
    """The model's incidents (oldest first), each with its causes and recommendations."""
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.get("/v1/incidents", params={"model": name, "limit": 500})
        if r.status_code != 200:
            raise TransportError(
                f"Listing incidents failed with HTTP {r.status_code}: {r.text[:300]}"
            )
        items: list[dict[str, object]] = r.json()["items"]
    return sorted(items, key=lambda i: str(i["first_window"]))


def incidents_table(items: list[dict[str, object]], start: datetime, url: str) -> Table:
    """One row per incident: when, what, the top cause and slice, the recommendation."""
    table = Table(title="Incidents (firing monitors grouped by window and cause, explained)")
    for col in ("#", "day", "severity", "incident", "top cause", "worst slice", "recommended"):
        table.add_column(col, overflow="fold")
    for inc in items:
        when = datetime.fromisoformat(str(inc["first_window"])).replace(tzinfo=UTC)
        causes = inc.get("causes") or {}
        assert isinstance(causes, dict)
        feats = [f for f in causes.get("features") or [] if f.get("alert")]
        quality = causes.get("quality") or []
        slices = causes.get("slices") or []
        recs = inc.get("recommendations") or []
        assert isinstance(recs, list)
        top = (
            f"{feats[0]['name']} (drift {feats[0]['drift']}x)"
            if feats
            else str(quality[0].get("reason") or quality[0]["monitor"])
            if quality
            else ""
        )
        table.add_row(
            f"[link={url}/ui/incidents/{inc['id']}]{inc['id']}[/link]",
            str((when - start).days),
            str(inc["severity"]),
            f"{inc['title']} ({len(inc.get('members') or [])} results, {inc['state']})",  # type: ignore[arg-type]
            top,
            str(slices[0]["description"]) if slices else "",
            str(recs[0]["action"]) if recs else "",
        )
    if not items:
        table.add_row("", "", "", "(none)", "", "", "")
    return table


def run_demo(
    *,
    port: int = 8000,
    data_dir: Path | None = None,
    days: int = 60,
    events_per_day: int = 2000,
    drift_day: int | None = 40,
    seed: int = 0,
    exit_when_done: bool = False,
    store: str | None = None,
) -> None:
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    out = Console(width=None if sys.stdout.isatty() else 160)
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mlwarden-demo-")
        data_dir = Path(tmp.name)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days)
    scenario = Scenario(
        seed=seed,
        days=days,
        events_per_day=events_per_day,
        start=start,
        drift_start_day=drift_day,
        drift=drift_day is not None,
    )
    sim = Simulation(scenario)
    settings = ServerSettings(data_dir=data_dir, port=port, store_url=store)
    server = BackgroundServer(settings).start()
    try:
        console.print(f"mlwarden demo: server on {server.url}, data in {data_dir}")
        if drift_day is not None:
            console.print(
                f"Simulating 'loan-default' from {start:%Y-%m-%d}: credit scores shift from day {drift_day} "
                f"({start + timedelta(days=drift_day):%Y-%m-%d}), accuracy drops from day {drift_day + 3}."
            )
        t0 = time.perf_counter()
        sent = feed(server.url, sim, now=datetime.now(UTC), console=console)
        secs = time.perf_counter() - t0
        console.print(
            f"Sent {sent['events']:,} events and {sent['labels']:,} labels in {secs:.1f} s "
            f"({sent['events'] / secs:,.0f} events/s)."
        )
        drift_start = start + timedelta(days=drift_day) if drift_day is not None else None
        name = sim.spec_columns["name"]
        out.print(summary_table(server.url, name, drift_start))
        alerts = monitor(server.url, name, start, today, console=console)
        out.print(alerts_table(alerts, start, drift_day))
        out.print(incidents_table(incidents_of(server.url, name), start, server.url))
        out.print(
            f"Explore: {server.url}/ui (dashboard), {server.url}/docs (API), "
            f"{server.url}/metrics (Prometheus)"
        )
        if exit_when_done:
            return
        console.print("Serving until Ctrl-C.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if tmp is not None:
            tmp.cleanup()
