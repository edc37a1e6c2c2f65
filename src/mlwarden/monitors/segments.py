"""Which values of a segment column get monitors of their own, at what resolution, and why.

A segment value is judged by monitors fitted on its own part of the reference. With plenty of
reference rows (:data:`MIN_FULL_REFERENCE`) they are fitted as for the whole model. With
fewer, down to :data:`MIN_COARSE_REFERENCE`, they are fitted at a coarser resolution: numeric
baselines of fewer quantile bins (about ten reference rows each), and thresholds calibrated
for the small reference (the two-sample null laws and the bootstrap standard errors widen as
the reference shrinks), so the segment's false alarms stay within its budget. All monitored values share one
false-alarm budget between them (see ``MonitorSuite._fit_segments``).
Below that a value is not monitored on its own (its rows still count in the whole model) and
the plan says so, as it does for values beyond the most frequent :data:`MAX_SEGMENT_VALUES`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlwarden.monitors.context import MONITOR_BINS

__all__ = [
    "MAX_SEGMENT_VALUES",
    "MIN_COARSE_REFERENCE",
    "MIN_FULL_REFERENCE",
    "SegmentPlan",
    "plan_segment",
]

#: Reference rows for a segment value's monitors at full resolution.
MIN_FULL_REFERENCE = 300
#: Fewest reference rows for monitors of its own at a coarser resolution.
MIN_COARSE_REFERENCE = 50
#: Most values of one segment column that get monitors (the most frequent in the reference).
MAX_SEGMENT_VALUES = 10
#: Reference rows per quantile bin of a coarse numeric baseline.
ROWS_PER_BIN = 10


@dataclass(frozen=True)
class SegmentPlan:
    """How one segment value is monitored: ``resolution`` is ``full``, ``coarse`` or ``none``;
    ``bins`` the most quantile bins of its numeric baselines; ``note`` says why, in a sentence.

    Examples
    --------
    >>> plan_segment("clinic", "c", 170).resolution, plan_segment("clinic", "c", 170).bins
    ('coarse', 17)
    >>> plan_segment("clinic", "d", 20).note
    "clinic=d has 20 reference rows; monitors of its own need at least 50, so it is not monitored on its own (its rows count in the whole model's monitors)."
    """  # noqa: E501

    column: str
    value: str
    reference_rows: int
    resolution: str
    bins: int
    note: str

    @property
    def label(self) -> str:
        return f"{self.column}={self.value}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentPlan:
        return cls(**data)


def plan_segment(column: str, value: str, rows: int, *, rank: int = 0) -> SegmentPlan:
    """The plan of the value ``rank``-th most frequent in the reference, with ``rows`` rows."""
    label = f"{column}={value}"
    if rank >= MAX_SEGMENT_VALUES:
        return SegmentPlan(
            column,
            value,
            rows,
            "none",
            0,
            f"{column} {value} ({rows:,} reference rows) are not among its "
            f"{MAX_SEGMENT_VALUES} most frequent values, so they are not monitored on their own "
            "(their rows count in the whole model's monitors).",
        )
    if rows >= MIN_FULL_REFERENCE:
        return SegmentPlan(
            column,
            value,
            rows,
            "full",
            MONITOR_BINS,
            f"{label} has {rows:,} reference rows: monitored like the whole model.",
        )
    if rows >= MIN_COARSE_REFERENCE:
        bins = max(rows // ROWS_PER_BIN, 2)
        return SegmentPlan(
            column,
            value,
            rows,
            "coarse",
            bins,
            f"{label} has {rows:,} reference rows (full resolution needs "
            f"{MIN_FULL_REFERENCE}): monitored at a coarser resolution, numeric baselines of "
            f"{bins} bins and thresholds widened for the small reference, so its false alarms "
            "stay within budget; only larger changes show.",
        )
    return SegmentPlan(
        column,
        value,
        rows,
        "none",
        0,
        f"{label} has {rows:,} reference rows; monitors of its own need at least "
        f"{MIN_COARSE_REFERENCE}, so it is not monitored on its own (its rows count in the "
        "whole model's monitors).",
    )
