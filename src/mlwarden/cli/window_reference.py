"""``mlwarden models reference-from-window``: a window of stored events as a model's reference."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url
from mlwarden.errors import MlwardenError, ValidationError, expected

__all__ = ["reference_from_window"]

out = Console(width=None if sys.stdout.isatty() else 160)


def _segment(items: list[str] | None) -> dict[str, str] | None:
    seg: dict[str, str] = {}
    for item in items or []:
        col, sep, value = item.partition("=")
        if not sep or not col:
            raise ValidationError(expected("option", "--segment", "look like column=value", item))
        seg[col] = value
    return seg or None


def reference_from_window(
    model: str,
    start: Annotated[
        str, typer.Option(help="Start of the window: ISO date or time, UTC unless it says.")
    ],
    end: Annotated[str, typer.Option(help="End of the window (not included).")],
    segment: Annotated[
        list[str] | None,
        typer.Option(help="Only this segment's events: column=value (repeatable)."),
    ] = None,
    name: Annotated[str, typer.Option(help="The reference's name.")] = "",
    max_rows: Annotated[
        int | None,
        typer.Option(help="Rows kept at most (a reproducible sample of a larger window)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Make the events of a window the model's new reference and fit its monitors on it again
    (drift is then measured against that window). Asks first unless --yes."""
    seg = _segment(segment)
    what = f"the events of {model!r} from {start} to {end}" + (
        f" (segment {', '.join(f'{k}={v}' for k, v in seg.items())})" if seg else ""
    )
    if not yes:
        if not sys.stdin.isatty():
            raise MlwardenError(
                f"Not making {what} the reference: confirm with --yes (no terminal to ask)."
            )
        if not typer.confirm(
            f"Make {what} the reference and fit the monitors on it again?", default=False
        ):
            raise typer.Exit(1)
    body: dict[str, object] = {"start": start, "end": end, "name": name}
    if seg:
        body["segment"] = seg
    if max_rows is not None:
        body["max_rows"] = max_rows
    with ApiClient(url, api_key=api_key) as c:
        r = c.request("POST", f"/v1/models/{model}/reference/from-window", json=body)
    ref = r["reference"]
    fitted = f"; {r['monitors']} monitors fitted on it" if r.get("monitors") is not None else ""
    out.print(
        f"Reference {ref['id']} of {model!r}: {r['rows']:,} rows from {r['events']:,} events"
        f"{' (a sample)' if r['sampled'] else ''}, {r['labelled']:,} with a label{fitted}.",
        highlight=False,
    )
    for note in r.get("notes", []):
        out.print(f"  {note}", highlight=False)
