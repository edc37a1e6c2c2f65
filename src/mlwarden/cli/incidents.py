"""``mlwarden incidents ...``: list, show, acknowledge, resolve and snooze incidents on a server."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url

__all__ = ["incidents_app"]

incidents_app = typer.Typer(
    help="Incidents on a running server: list, show, acknowledge, resolve, snooze.",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 160)
By = Annotated[
    str | None,
    typer.Option(
        "--by", "--actor", help="Who you are, in the timeline (default: your OS user name)."
    ),
]
Note = Annotated[str, typer.Option("--note", help="A note for the timeline.")]


@incidents_app.command("list")
def list_(
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="open, acknowledged, resolved (comma-separated)")
    ] = "open,acknowledged",
    limit: int = 50,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Incidents, the most recently active first."""
    params: dict[str, Any] = {"limit": limit}
    if model:
        params["model"] = model
    if state:
        params["state"] = state
    with ApiClient(url, api_key=api_key) as c:
        page = c.request("GET", "/v1/incidents", params=params)
    table = Table("id", "model", "state", "severity", "kind", "since", "last window", "title")
    for i in page["items"]:
        table.add_row(
            str(i["id"]),
            i["model"],
            i["state"],
            i["severity"],
            i["kind"],
            i["first_window"][:16],
            i["last_window"][:16],
            i["title"],
        )
    out.print(table)
    out.print(f"{len(page['items'])} of {page['total']} incidents")


@incidents_app.command("show")
def show(incident_id: int, url: Url = None, api_key: ApiKey = None) -> None:
    """What happened, where, why, what to do, and the timeline."""
    with ApiClient(url, api_key=api_key) as c:
        i = c.request("GET", f"/v1/incidents/{incident_id}")
    out.print(f"[bold]#{i['id']} {i['title']}[/bold]")
    out.print(
        f"model {i['model']} · {i['kind']} · severity {i['severity']} · {i['state']} · "
        f"windows {i['first_window'][:16]} .. {i['last_window'][:16]}"
    )
    causes = i.get("causes") or {}
    feats = [f for f in causes.get("features", []) if f.get("alert")]
    if feats:
        t = Table("feature", "drift / threshold", "importance", "first alert", title="What changed")
        for f in feats[:5]:
            t.add_row(
                f["name"], f"{f['drift']:.2f}", str(f.get("importance")), f.get("first_alert", "")
            )
        out.print(t)
    for q in causes.get("quality", [])[:3]:
        out.print(f"Data quality: {q.get('reason') or q['monitor']}")
    slices = causes.get("slices") or []
    if slices:
        t = Table("slice", "share", "metric", "there", "elsewhere", title="Where")
        for s in slices[:5]:
            t.add_row(
                s["description"],
                f"{s['share']:.1%}",
                s["metric"],
                f"{s['value']:.3g}",
                f"{s['rest']:.3g}",
            )
        out.print(t)
    for r in i.get("recommendations", []):
        out.print(f"[bold]Recommended:[/bold] {r['action']}\n  why: {r['why']}")
    for o in i.get("objectives", []):
        out.print(f"Objective {o['name']}: {o['status']}")
    t = Table("at", "event", "by", "note", title="Timeline")
    for e in i.get("timeline", []):
        t.add_row(e["at"][:19], e["event"], e.get("by", ""), e.get("note", ""))
    out.print(t)
    if i.get("url"):
        out.print(i["url"])


def _actor(by: str | None) -> str:
    """Who acts: ``--by``, else the OS user (never an anonymous 'someone')."""
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without /etc/passwd entry)
        return ""


def _act(
    incident_id: int, what: str, body: dict[str, Any], url: str | None, key: str | None
) -> dict[str, Any]:
    with ApiClient(url, api_key=key) as c:
        i: dict[str, Any] = c.request("POST", f"/v1/incidents/{incident_id}/{what}", json=body)
    return i


@incidents_app.command("ack")
def ack(
    incident_id: int, by: By = None, note: Note = "", url: Url = None, api_key: ApiKey = None
) -> None:
    """Acknowledge an open incident."""
    i = _act(incident_id, "acknowledge", {"by": _actor(by), "note": note}, url, api_key)
    out.print(f"Incident {i['id']} is {i['state']}.")


@incidents_app.command("resolve")
def resolve(
    incident_id: int, by: By = None, note: Note = "", url: Url = None, api_key: ApiKey = None
) -> None:
    """Resolve an incident by hand."""
    i = _act(incident_id, "resolve", {"by": _actor(by), "note": note}, url, api_key)
    out.print(f"Incident {i['id']} is {i['state']}.")


@incidents_app.command("snooze")
def snooze(
    incident_id: int,
    hours: Annotated[float, typer.Option("--hours", help="Silence notifications this long.")],
    by: By = None,
    note: Note = "",
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Silence an incident's notifications for a while (its state does not change)."""
    body = {"hours": hours, "by": _actor(by), "note": note}
    i = _act(incident_id, "snooze", body, url, api_key)
    until = (i.get("snoozed_until") or "")[:16] or f"{hours:g} h from now"
    out.print(
        f"Incident {i['id']}: notifications silenced until {until} (it stays {i['state']}).",
        highlight=False,
    )
