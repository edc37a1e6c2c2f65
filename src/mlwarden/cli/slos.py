"""``mlwarden slos`` and ``mlwarden probes``: a server's SLOs (budget left, burn rates,
alerts firing) and synthetic probes (with their latest result)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlwarden.cli.client import ApiClient
from mlwarden.cli.options import ApiKey, Url

__all__ = ["probes", "slos"]

out = Console(width=None if sys.stdout.isatty() else 160)
Model = Annotated[str | None, typer.Option("--model", "-m", help="One model (default: all).")]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def _burn(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}x"


def slos(model: Model = None, url: Url = None, api_key: ApiKey = None) -> None:
    """SLOs: objective, what they count, budget left, burn rate per alert window, alerts."""
    with ApiClient(url, api_key=api_key) as c:
        if model:
            models = [c.request("GET", f"/v1/models/{model}/slos")]
        else:
            models = c.request("GET", "/v1/slos")["models"]
    table = Table("model", "slo", "objective", "counts", "sli", "budget left", "1h", "6h", "3d",
                  "alert")  # fmt: skip
    n = 0
    for m in models:
        for s in m["slos"]:
            spec: dict[str, Any] = s["slo"]
            what = spec["source"] if spec["kind"] == "availability" else (
                f"{spec['source']} > {spec['threshold_ms']:g} ms"
            )  # fmt: skip
            table.add_row(
                m["model"],
                spec["name"],
                f"{spec['objective']:g}% / {spec['period_days']:g}d",
                what,
                _pct(s["sli"]),
                _pct(s["budget_left"]),
                _burn(s["burn"].get("1h")),
                _burn(s["burn"].get("6h")),
                _burn(s["burn"].get("3d")),
                s["level"],
            )
            n += 1
    out.print(table)
    out.print(f"{n} SLOs")


def probes(
    model: Annotated[str, typer.Option("--model", "-m", help="The model.")],
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """A model's synthetic probes and their latest result."""
    with ApiClient(url, api_key=api_key) as c:
        found = c.request("GET", f"/v1/models/{model}/probes")["probes"]
    table = Table("probe", "method", "url", "every", "last", "status", "latency", "ok", "error")
    for p in found:
        spec, last = p["probe"], p["last"] or {}
        table.add_row(
            spec["name"],
            spec["method"],
            spec["url"],
            f"{spec['interval_s']:g}s",
            (last.get("at") or "-")[:19],
            str(last.get("status_code") or "-"),
            "-" if last.get("latency_ms") is None else f"{last['latency_ms']:.0f} ms",
            {True: "yes", False: "no"}.get(last.get("ok"), "-"),  # type: ignore[arg-type]
            last.get("error") or "",
        )
    out.print(table)
    out.print(f"{len(found)} probes")
