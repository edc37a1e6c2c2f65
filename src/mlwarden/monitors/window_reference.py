"""A window of stored events as the model's new reference, and the monitors fitted on it.

The events of ``[start, end)`` (of one segment, if given) become a reference table with the
columns a reference upload has: the features and segment columns under their names, the
prediction and scores under the spec's column names, and the target from the labels that
arrived for those events. A window larger than ``max_rows`` gives a reproducible sample of
that many rows (the reply says so); an empty window, or one with fewer than
:data:`MIN_ROWS` events, is refused and nothing is stored. The reference is stored as a new
one (the latest, so the one the monitors are fitted on; older ones stay listed) and the
monitors are fitted again: the stored spec of the monitors kept as it is, or set up from
scratch when the model has none yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from mlwarden.errors import MlwardenError, NotFoundError, ValidationError
from mlwarden.monitors import service
from mlwarden.schema.batch import score_column
from mlwarden.schema.spec import ModelSpec, Task
from mlwarden.store.base import ReferenceRecord
from mlwarden.store.window_rows import window_rows

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["MAX_ROWS", "MIN_ROWS", "WindowReference", "reference_from_window"]

#: Fewest events a window needs to become a reference (a drift baseline and its calibrated
#: thresholds from fewer would be noise).
MIN_ROWS = 100
#: Rows a reference from a window holds at most (a reproducible sample of a larger window).
MAX_ROWS = 200_000


@dataclass(frozen=True)
class WindowReference:
    """What :func:`reference_from_window` stored: the reference, the window's events (all of
    them) and those kept, labels found, monitors fitted (None: not fitted) and notes."""

    reference: ReferenceRecord
    events: int
    rows: int
    labelled: int
    monitors: int | None
    notes: tuple[str, ...]

    @property
    def sampled(self) -> bool:
        return self.rows < self.events


def _columns(spec: ModelSpec) -> dict[str, str]:
    """Event column -> reference column."""
    out: dict[str, str] = {f.name: f.name for f in spec.features}
    out |= {t: t for t in spec.tag_columns}
    if spec.prediction and spec.task is not Task.LLM:
        out["prediction"] = spec.prediction
    if spec.score:
        out["score"] = spec.score
    if spec.task is Task.MULTICLASS and len(spec.scores) == len(spec.classes):
        out |= {score_column(c): s for c, s in zip(spec.classes, spec.scores, strict=True)}
    return out


def reference_from_window(
    store: Store,
    project: str,
    model: str,
    *,
    start: datetime,
    end: datetime,
    segment: dict[str, str] | None = None,
    max_rows: int = MAX_ROWS,
    name: str = "",
) -> WindowReference:
    """Store the events of ``[start, end)`` of ``model`` as its new reference and fit its
    monitors on it (see the module's docstring)."""
    if end <= start:
        raise ValidationError(
            f"The 'end' field must be after start {start.isoformat()}. "
            f"Got {end.isoformat()!r} instead."
        )
    record = store.get_model(project, model)
    spec: ModelSpec = record.spec
    mapping = _columns(spec)
    if spec.task is Task.LLM or not mapping:
        raise ValidationError(
            f"Model {model!r} has no features or outputs a reference could hold (an LLM app's "
            "monitors learn from its recent spans). Nothing was stored."
        )
    got = window_rows(
        store,
        record,
        start=start,
        end=end,
        columns=list(mapping),
        limit=max_rows,
        segment=segment,
        labels=spec.target is not None,
    )
    where = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC" + (
        f" (segment {', '.join(f'{k}={v}' for k, v in segment.items())})" if segment else ""
    )
    if got.total < MIN_ROWS:
        raise ValidationError(
            f"The window {where} holds {got.total:,} event(s) of model {model!r}; a reference "
            f"needs at least {MIN_ROWS:,}. Nothing was stored: pick a longer window."
        )
    table, notes = got.table, []
    if got.sampled:
        notes.append(
            f"The window holds {got.total:,} events; the reference is a reproducible sample of "
            f"{table.num_rows:,} of them."
        )
    labelled = 0
    if spec.target is not None:
        label = "actual_value" if spec.task is Task.REGRESSION else "actual"
        labelled = table.num_rows - table.column(label).null_count
        keep = table.column(label)
        table = table.drop_columns(["actual", "actual_value"])
        if labelled:
            table = table.append_column("_target", keep)
            mapping["_target"] = spec.target
            if labelled < table.num_rows:
                notes.append(
                    f"{labelled:,} of the {table.num_rows:,} rows have a label; the others "
                    f"have no {spec.target!r}."
                )
        else:
            notes.append(
                f"No labels arrived for these events: the reference has no {spec.target!r}, "
                "so the monitors that need labels are left out."
            )
    table = table.rename_columns([mapping[c] for c in table.column_names])
    table = _drop_empty(table, {c for c in (spec.score, *spec.scores) if c})
    label_name = name or f"window {where}"
    ref = store.put_reference(project, model, table, name=label_name[:200])
    monitors: int | None = None
    try:
        try:
            row = store.get_suite(project, model)
        except NotFoundError:
            suite = service.setup_suite(store, project, model)
        else:
            suite = service.apply_suite(store, project, model, row.spec)
        monitors = len(suite.monitors)
    except MlwardenError as exc:  # the reference is stored: say why the monitors are not
        notes.append(f"Monitors not fitted on it: {exc}")
    return WindowReference(
        reference=ref,
        events=got.total,
        rows=got.table.num_rows,
        labelled=labelled,
        monitors=monitors,
        notes=tuple(notes),
    )


def _drop_empty(table: pa.Table, columns: set[str]) -> pa.Table:
    """Without the ``columns`` that hold no value at all (scores a model never sent): a
    reference upload would not have them either."""
    empty = [
        c
        for c in table.column_names
        if c in columns and table.column(c).null_count == table.num_rows
    ]
    return table.drop_columns(empty) if empty else table
