"""Links from a page to the experiment runs (MLflow, W&B) model versions came from
(``run_url`` of a version, :mod:`mlwarden.schema.version_links`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden.errors import NotFoundError
from mlwarden.schema.version_links import aliases_of, run_kind, run_url_of
from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.store.protocols import AggregateSource, Catalog

__all__ = ["version_runs", "versions_seen"]


def version_runs(
    store: Catalog, project: str, model: str, versions: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """``{"version", "url", "kind", "aliases"}`` of the model's versions that carry a run link
    (only those of ``versions`` when given, in that order)."""
    try:
        stored = {v.version: v for v in store.list_versions(project, model)}
    except NotFoundError:  # the model was deleted since (its incidents stay)
        return []
    names = list(stored) if versions is None else [v for v in versions if v in stored]
    out = []
    for name in names:
        meta = stored[name].metadata
        url = run_url_of(meta)
        if url:
            out.append(
                {"version": name, "url": url, "kind": run_kind(url), "aliases": aliases_of(meta)}
            )
    return out


def versions_seen(
    store: AggregateSource, project: str, model: str, start: datetime, end: datetime
) -> list[str]:
    """The versions that had events in ``[start, end)``, most events first."""
    try:
        record = store.get_model(project, model)
    except NotFoundError:
        return []
    ev = store.events(record)
    t = ev.filter(ev.ts >= utc_naive(start), ev.ts < utc_naive(end), ev.version.notnull())
    rows = t.group_by("version").aggregate(n=t.count()).to_pyarrow().to_pylist()
    return [r["version"] for r in sorted(rows, key=lambda r: -r["n"])]
