"""``mlwarden alerting ...``: a project's channels and actions on a server, a ping, the logs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url
from mlwarden.errors import ConfigError

__all__ = ["alerting_app"]

alerting_app = typer.Typer(
    help="Where incident notifications go (channels) and what runs on them (actions).",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 160)


def _print(config: dict[str, Any]) -> None:
    t = Table("channel", "kind", "min severity", "events", "objectives", title="Channels")
    for c in config["channels"]:
        t.add_row(
            c["name"],
            c["kind"],
            c["min_severity"],
            ", ".join(c["events"] or ["all"]),
            ", ".join(c["objectives"] or ["all"]),
        )
    out.print(t)
    t = Table("action", "does", "dry run", "from", title="Actions")
    for a in config["actions"]:
        source = "server config" if a.get("source") == "server" else "this config"
        t.add_row(a["name"], a["does"], "yes" if a["dry_run"] else "no", source)
    out.print(t)


@alerting_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="The alerting config (YAML).")],
    dry_run: Annotated[bool, typer.Option(help="Only validate it on the server.")] = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Replace the project's channels and actions with FILE.

    Command actions are refused by the server: they belong in the server's actions file
    (mlwarden serve --actions-file), next to the actions it lists as 'server config'."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the alerting config {str(file)!r}: {exc}.") from exc
    with ApiClient(url, api_key=api_key) as c:
        config = c.request(
            "PUT",
            "/v1/alerting",
            params={"dry_run": str(dry_run).lower()},
            content=text.encode(),
            headers={"content-type": "application/yaml"},
        )
    _print(config)
    out.print("Valid (not applied: dry run)." if dry_run else "Applied.")


@alerting_app.command("show")
def show(
    yaml_only: Annotated[bool, typer.Option("--yaml", help="Print the YAML only.")] = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """The project's channels and actions."""
    with ApiClient(url, api_key=api_key) as c:
        config = c.request("GET", "/v1/alerting")
    if yaml_only:
        print(config["spec_yaml"], end="")
    else:
        _print(config)


@alerting_app.command("ping")
def ping(
    by: Annotated[str, typer.Option("--by", help="Who you are (shown in the text).")] = "",
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Send a ping to every channel now; exit 1 if one failed."""
    with ApiClient(url, api_key=api_key) as c:
        got = c.request("POST", "/v1/alerting/ping", json={"by": by})
    t = Table("channel", "kind", "status", "attempts", "error")
    for d in got["deliveries"]:
        t.add_row(d["channel"], d["kind"], d["status"], str(d["attempts"]), d["error"])
    out.print(t)
    if not got["deliveries"]:
        out.print("The project has no channels.")
    if not got["ok"]:
        raise typer.Exit(1)


@alerting_app.command("log")
def log_(
    incident: Annotated[int | None, typer.Option("--incident", help="One incident's.")] = None,
    limit: int = 50,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Recent deliveries and action runs, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if incident is not None:
        params["incident_id"] = incident
    with ApiClient(url, api_key=api_key) as c:
        deliveries = c.request("GET", "/v1/alerting/deliveries", params=params)
        runs = c.request("GET", "/v1/alerting/actions", params=params)
    t = Table(
        "at", "channel", "incident", "event", "status", "attempts", "error", title="Deliveries"
    )
    for d in deliveries:
        t.add_row(
            str(d["finished_at"])[:19],
            d["channel"],
            str(d["incident_id"]),
            d["event"],
            d["status"],
            str(d["attempts"]),
            d["error"] or "",
        )
    out.print(t)
    t = Table("at", "action", "incident", "event", "status", "detail", title="Action runs")
    for r in runs:
        t.add_row(
            str(r["run_at"])[:19],
            r["action"],
            str(r["incident_id"]),
            r["event"],
            r["status"],
            r["detail"] or "",
        )
    out.print(t)
