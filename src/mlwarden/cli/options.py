"""Options every command that talks to a server shares (one wording, one escape)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["ApiKey", "Url"]

# help text is rich markup: '\[' keeps the brackets (rich would read '[env ...]' as a style)
Url = Annotated[
    str | None,
    typer.Option("--url", help="Server URL \\[env MLWARDEN_URL].", show_default=False),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="API key \\[env MLWARDEN_API_KEY].", show_default=False),
]
