"""``mlwarden evals ...``: run an experiment on a server with a progress bar, compare runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlwarden.cli.options import ApiKey, Url
from mlwarden.errors import ValidationError

__all__ = ["evals_app", "print_comparison"]

evals_app = typer.Typer(
    help="Evaluations on a running server: run an experiment, compare two runs.",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 160)


def _num(x: Any) -> str:
    return "–" if x is None else f"{x:.4g}"


def print_comparison(cmp: dict[str, Any], console: Console = out) -> None:
    """The per-evaluator table of a comparison (B against the baseline A)."""
    a, b = cmp["a"], cmp["b"]
    table = Table("evaluator", "items", "mean A", "mean B", "B - A [95% CI]", "better/worse",
                  "test", "p-value", title=f"{b['name'] or b['id']} against {a['name'] or a['id']}")  # fmt: skip
    for e in cmp["evaluators"]:
        lo, hi = e["ci_diff"]
        p = e["p_value"]
        table.add_row(e["evaluator"], str(e["n"]), _num(e["mean_a"]), _num(e["mean_b"]),
                      f"{_num(e['diff'])} [{_num(lo)}, {_num(hi)}]",
                      f"{e['improved']}/{e['regressed']}", e["test"],
                      e["reason"] if p is None else f"{p:.3g}")  # fmt: skip
    console.print(table)


@evals_app.command("run")
def run(
    spec: Annotated[
        Path, typer.Argument(help="YAML or JSON: the body of POST /v1/llm/experiments.")
    ],
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Overrides the spec's.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Overrides the spec's.")] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", "-b", help="A run id to compare the new run with.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run.")] = 3600.0,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Start an experiment run, show its progress, then its summary (and the comparison with
    ``--baseline``). Exits 1 when the run did not finish every item."""
    body = yaml.safe_load(spec.read_text())
    if not isinstance(body, dict):
        raise ValidationError(f"The spec file {str(spec)!r} must hold a mapping (the run's body).")
    body |= {k: v for k, v in (("dataset", dataset), ("name", name)) if v is not None}
    from mlwarden.sdk.evals import EvalClient  # the SDK: imported by the commands that call it

    with EvalClient(url, api_key=api_key) as ev:
        started = ev.start(body.pop("dataset", ""), **body)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=out, transient=True) as bar:
            task = bar.add_task(f"run {started['id']}", total=started["total"])

            def show(r: dict[str, Any]) -> None:
                bar.update(task, completed=r["done"], description=f"run {r['id']} {r['status']}")

            done = ev.wait(started["id"], timeout=timeout, on_progress=show)
        out.print(f"Run {done['id']}: {done['status']}, {done['done']} of {done['total']} items, "
                  f"{done['tokens'] or 0} tokens, ${done['cost'] or 0:.4f}"
                  + (f" ({done['error']})" if done["error"] else ""))  # fmt: skip
        summary = Table("evaluator", "graded", "mean", "passed", "judge prompt")
        for s in done["summary"]:
            rate = "–" if s["pass_rate"] is None else f"{s['pass_rate']:.0%}"
            summary.add_row(s["evaluator"], str(s["graded"]), _num(s["mean"]), rate,
                            ", ".join(s["templates"]))  # fmt: skip
        out.print(summary)
        if baseline:
            print_comparison(ev.compare(baseline, done["id"]))
    if done["status"] != "done":
        raise typer.Exit(1)


@evals_app.command("compare")
def compare(
    baseline: Annotated[str, typer.Argument(help="The baseline run id (A).")],
    other: Annotated[str, typer.Argument(help="The run compared with it (B).")],
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Two runs side by side: per evaluator means, difference, paired test and p-value."""
    from mlwarden.sdk.evals import EvalClient

    with EvalClient(url, api_key=api_key) as ev:
        print_comparison(ev.compare(baseline, other))
