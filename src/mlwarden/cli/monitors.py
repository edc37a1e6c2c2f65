"""``mlwarden monitors``: a model's monitors on a running server, without raw HTTP calls.

``show`` (each monitor, why, its threshold and latest status), ``setup`` (choose them from
the spec and reference), ``preview`` (what an edited spec would do, nothing applied),
``apply`` (store an edited spec) and ``evaluate`` (a backfill, with a progress bar).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url
from mlwarden.errors import MlwardenError

__all__ = ["monitors_app"]

monitors_app = typer.Typer(
    help="Show, set up, preview, apply and evaluate a model's monitors on a running server.",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 160)
# errors are never hard-wrapped: a log line holds the whole message, path and all
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, soft_wrap=True)

RowsOpt = Annotated[int, typer.Option(help="Window size the thresholds are shown at.")]
#: Windows per evaluate request: a request stays short, the bar moves.
CHUNK_WINDOWS = 32


def _plan_table(title: str, plan: list[dict[str, Any]], latest: dict[str, Any]) -> Table:
    table = Table("monitor", "why", "threshold", "false alerts / month", "latest", title=title)
    for it in plan:
        if "skipped" in it:
            table.add_row(it["monitor"], f"[yellow]skipped:[/yellow] {it['skipped']}", "", "", "")
            continue
        th = it.get("threshold") or {}
        fa = th.get("expected_false_alerts_per_month")
        status = latest.get(it["monitor"], "")
        table.add_row(
            it["monitor"],
            it.get("why", ""),
            f"{th['threshold']:.4g}" if th.get("threshold") is not None else "-",
            f"{fa:.3f}" if fa is not None else "-",
            status,
        )
    return table


def _print_suite(s: dict[str, Any], latest: dict[str, Any] | None = None) -> None:
    n = sum(1 for it in s["plan"] if "skipped" not in it)
    title = (
        f"{n} monitors of {s['model']!r}, windows of {s['cadence']}, "
        f"at most {s['false_alarm_budget']} false alert(s)"
    )
    out.print(_plan_table(title, s["plan"], latest or {}))


@monitors_app.command("show")
def show(
    model: str,
    rows_per_window: RowsOpt = 1000,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Each monitor of a model: why, its threshold, and its latest whole-model status."""
    with ApiClient(url, api_key=api_key) as c:
        s = c.request(
            "GET", f"/v1/models/{model}/monitors", params={"rows_per_window": rows_per_window}
        )
        rows = c.request("GET", f"/v1/models/{model}/results", params={"limit": 5000})
    latest: dict[str, Any] = {}
    for r in rows:  # newest window first
        if r["monitor"] not in latest:
            partial = " (partial)" if (r.get("details") or {}).get("partial") else ""
            latest[r["monitor"]] = f"{r['status']}{partial}"
    _print_suite(s, latest)
    if not rows:
        err.print("No results yet: they come as windows close (or: mlwarden monitors evaluate).")


@monitors_app.command("setup")
def setup(
    model: str,
    cadence: Annotated[
        str | None, typer.Option(help="Window length: 1h, 6h, 1d, 1w (default: from volume).")
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="False-alarm budget in words, e.g. '1 per 30 days'.")
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="Segment column to judge apart (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, apply nothing.")] = False,
    rows_per_window: RowsOpt = 1000,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Choose the monitors from the model's spec and latest reference, thresholds calibrated
    to the false-alarm budget (replaces the current ones unless --dry-run)."""
    body: dict[str, Any] = {"dry_run": dry_run, "rows_per_window": rows_per_window}
    if cadence is not None:
        body["cadence"] = cadence
    if budget is not None:
        body["false_alarm_budget"] = budget
    if segment:
        body["segments"] = segment
    with ApiClient(url, api_key=api_key) as c:
        s = c.request("POST", f"/v1/models/{model}/monitors/setup", json=body)
    _print_suite(s)
    err.print("Dry run: nothing applied." if dry_run else f"Applied to {model!r}.")


def _put(model: str, file: Path | None, *, dry_run: bool, rows: int, url: Any, key: Any) -> Any:
    with ApiClient(url, api_key=key) as c:
        if file is None:
            text = c.request("GET", f"/v1/models/{model}/monitors")["spec_yaml"]
        else:
            if not file.exists():
                raise MlwardenError(f"The monitoring spec file {str(file)!r} does not exist.")
            text = file.read_text()
        return c.request(
            "PUT",
            f"/v1/models/{model}/monitors",
            params={"dry_run": "true" if dry_run else "false", "rows_per_window": rows},
            content=text.encode(),
            headers={"content-type": "application/yaml"},
        )


SpecFile = Annotated[Path, typer.Argument(help="The monitoring spec (YAML), e.g. from init.")]


@monitors_app.command("preview")
def preview(
    model: str,
    file: Annotated[
        Path | None, typer.Argument(help="An edited spec (default: the current one).")
    ] = None,
    rows_per_window: RowsOpt = 1000,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """What a spec would monitor, fitted on the reference: nothing is applied."""
    _print_suite(_put(model, file, dry_run=True, rows=rows_per_window, url=url, key=api_key))
    err.print("Preview: nothing applied.")


@monitors_app.command("apply")
def apply(
    model: str,
    file: SpecFile,
    rows_per_window: RowsOpt = 1000,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Apply an edited monitoring spec (fitted on the reference, then stored)."""
    _print_suite(_put(model, file, dry_run=False, rows=rows_per_window, url=url, key=api_key))
    err.print(f"Applied {file} to {model!r}.", highlight=False)


def _instant(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MlwardenError(
            f"The '--{what}' option must be an ISO time like 2026-03-01T00:00. "
            f"Got {text!r} instead."
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@monitors_app.command("evaluate")
def evaluate(
    model: str,
    start: Annotated[
        str | None, typer.Option(help="ISO time (default: the first event's day).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="ISO time (default: now).")] = None,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Evaluate (or re-evaluate) every window of a time range now, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mlwarden.monitors.evaluate import ORIGIN
    from mlwarden.monitors.suite import parse_cadence

    t0, t1 = _instant(start, "start"), _instant(end, "end") or datetime.now(UTC)
    with ApiClient(url, api_key=api_key, timeout=600) as c:
        cadence = parse_cadence(c.request("GET", f"/v1/models/{model}/monitors")["cadence"])
        if t0 is None:
            days = c.request("GET", f"/v1/models/{model}/counts", params={"window": "day"})
            if not days:
                err.print(f"Model {model!r} has no events yet: nothing to evaluate.")
                return
            t0 = min(_instant(d["window_start"], "start") for d in days)  # type: ignore[type-var]
        assert t0 is not None
        t0 = ORIGIN + ((t0 - ORIGIN) // cadence) * cadence  # whole windows per request
        if t1 <= t0:
            raise MlwardenError("The '--end' must be after the '--start'.")
        step = cadence * CHUNK_WINDOWS
        spans: list[tuple[datetime, datetime]] = []
        a = t0
        while a < t1:
            spans.append((a, min(a + step, t1)))
            a += step
        total = 0
        with Progress(
            TextColumn("[bold]evaluating[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task(model, total=len(spans))
            for a, b in spans:
                r = c.request(
                    "POST",
                    f"/v1/models/{model}/evaluate",
                    json={"start": a.isoformat(), "end": b.isoformat()},
                )
                total += int(r["results"])
                bar.advance(task)
    windows = (t1 - t0) / cadence
    out.print(
        f"Evaluated {model!r} from {t0.isoformat()} to {t1.isoformat()} "
        f"(~{windows:,.0f} windows of {timedelta(seconds=cadence.total_seconds())}): "
        f"{total:,} results.",
        highlight=False,
    )
