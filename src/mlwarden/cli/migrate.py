"""``mlwarden migrate``: copy a DuckDB deployment (its data directory) into PostgreSQL, with
events and labels in ClickHouse when ``--events`` is given, then compare the two stores.

A direct store-to-store copy rather than an export to files and an import: the engines'
appends are idempotent already (a second run stores nothing twice, a stopped run is resumed by
running it again), every value goes through the same write path the server uses, and there is
no intermediate copy of the events to hold on disk (docs/scaling.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["EXIT_MISMATCH", "migrate"]

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, soft_wrap=True)

#: exit code when the target's counts or aggregates differ from the source's
EXIT_MISMATCH = 3


def _show(value: object) -> str:
    return "-" if value is None else str(value)


def migrate(
    source_dir: Annotated[
        Path,
        typer.Option("--from", help="The data directory of the DuckDB deployment to copy."),
    ],
    to: Annotated[
        str,
        typer.Option("--to", help="The PostgreSQL database to copy into (postgresql://...)."),
    ],
    events: Annotated[
        str | None,
        typer.Option(
            help="Keep events and labels in this ClickHouse database (chdb:///path or "
            "clickhouse://user:password@host:8123/db), as `serve --events` will.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Copy into a target that holds models already (to resume a stopped run: "
            "nothing is stored twice).",
        ),
    ] = False,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Events read and written per batch (bounds memory).")
    ] = 50_000,
) -> None:
    """Copy a DuckDB deployment into PostgreSQL (+ ClickHouse), then compare counts and
    aggregates of every table: exits 3 on a difference, 4 when a store cannot be opened."""
    from mlwarden.errors import expected
    from mlwarden.store import DB_FILE, is_store_url, open_store
    from mlwarden.store.ch_connection import is_events_url
    from mlwarden.store.transfer import compare, copy_store, is_empty, row_counts

    if not is_store_url(to):
        err.print(expected("option", "--to", "be a postgresql:// URL", to), style="red")
        raise typer.Exit(2)
    if events is not None and not is_events_url(events):
        err.print(
            expected("option", "--events", "be a chdb:// or clickhouse:// URL", events),
            style="red",
        )
        raise typer.Exit(2)
    if not (source_dir / DB_FILE).is_file():
        err.print(
            expected("option", "--from", f"be a data directory holding {DB_FILE}", str(source_dir)),
            style="red",
        )
        raise typer.Exit(2)
    source = open_store(source_dir)
    try:
        target = open_store(to, events=events)
        try:
            if not force and not is_empty(target):
                err.print(
                    "The target holds models already: pass --force to copy into it anyway "
                    "(a second run stores nothing twice).",
                    style="red",
                )
                raise typer.Exit(2)
            before = row_counts(source)
            total = sum(
                int(v or 0)
                for k, v in before.items()
                if k.endswith((": events", ": labels", ": results"))
            )
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task("copying rows", total=total)
                copy_store(
                    source,
                    target,
                    batch_rows=batch_rows,
                    on_rows=lambda step, n: bar.update(task, advance=n, description=step),
                )
                bar.update(task, description="copied")
            checks = compare(before, row_counts(target))
        finally:
            target.close()
    finally:
        source.close()
    table = Table("figure", "source", "target", "")
    for c in checks:
        table.add_row(
            c.what, _show(c.source), _show(c.target), "ok" if c.ok else "[red]differs[/red]"
        )
    out.print(table)
    bad = [c for c in checks if not c.ok]
    if bad:
        err.print(f"{len(bad)} of {len(checks)} figures differ between source and target.")
        raise typer.Exit(EXIT_MISMATCH)
    out.print(f"All {len(checks)} figures agree.")
