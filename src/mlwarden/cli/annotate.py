"""``mlwarden annotate``: mark a deploy, a note or an incident on a model's charts (or on every
model's of the project), e.g. as the last step of a CI/CD pipeline."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url
from mlwarden.schema.annotation import AnnotationKind

__all__ = ["annotate"]

out = Console(width=None if sys.stdout.isatty() else 160)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without an /etc/passwd entry)
        return ""


def annotate(
    text: Annotated[str, typer.Argument(help="What happened (1-500 characters).")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="The model; without it, every model of the project."),
    ] = None,
    kind: Annotated[
        AnnotationKind, typer.Option("--kind", "-k", help="What it marks.")
    ] = AnnotationKind.NOTE,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When (ISO 8601, UTC unless it says otherwise; default now)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="When it ended, for a span (a rollout).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who marks it (default: your OS user name).")
    ] = None,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Mark a deploy, note or incident on a model's charts (needs the 'operate' scope).

    Example, after a deploy: mlwarden annotate "v2.3 rolled out" -m churn --kind deploy
    """
    body: dict[str, Any] = {"text": text, "kind": kind.value, "author": by or _os_user()}
    if at:
        body["time"] = at
    if end:
        body["end"] = end
    path = f"/v1/models/{model}/annotations" if model else "/v1/annotations"
    with ApiClient(url, api_key=api_key) as c:
        a = c.request("POST", path, json=body)
    where = f"model {model}" if model else "every model of the project"
    out.print(
        f"Marked {a['kind']} {a['text']!r} at {a['time'][:16].replace('T', ' ')} UTC on {where} "
        f"(annotation {a['id']}).",
        highlight=False,
    )
