"""Security: one client probing the model (a grid sweep, boundary hugging, near-duplicates).

Each client (the events' ``client_id``) that sent at least ``min_client_rows`` events in the
window is tested three ways (see :mod:`mlwarden.stats.probing`):

* **grid sweep**: at least two features (one, when the model has only one that can tell)
  take few equally spaced levels used near-uniformly, and most inputs are distinct. A
  feature counts only when no sample of reference rows of a client's size looked like a
  grid when it was fitted (200 samples each at 1x, 4x and 16x ``min_client_rows``): an
  integer feature with few values, or one uniform on a handful of levels, cannot tell.
* **decision boundary**: the client's share of scores within ``band`` of 0.5 is above the
  reference's by at least ``min_effect`` and significant by Fisher's exact test;
* **near-duplicates**: more inputs in one cell of a fine grid (a hundredth of each
  feature's 1-99% range) than the reference's collision rate allows, by a conservative
  Poisson bound, and at least ``min_effect`` of the client's rows.

The p-values are held to the model's per-window false-alarm budget split over the clients
tested and the two tests (Bonferroni), as every calibrated monitor's. The result names the
clients and the patterns; a firing window opens a *security* incident.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.schema.spec import FeatureKind
from mlwarden.stats.probing import (
    collision_rate_columns,
    duplicates_p,
    grid_like,
    quantize_columns,
)
from mlwarden.stats.rate_tests import fisher_p
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request, Volume
from mlwarden.store.client_aggregates import ClientProfile

__all__ = ["Probing"]

#: Cells of the near-duplicate grid along each feature's 1-99% range.
CELLS = 100
#: Reference samples per size when checking which features can reveal a grid.
NULL_SAMPLES = 200
NULL_SIZES = (1, 4, 16)


@MONITORS.register
class Probing(Monitor):
    """Clients whose queries look like probing or extraction of the model: a grid sweep over
    the features, scores hugging the decision boundary, or many near-duplicate inputs.

    Examples
    --------
    >>> Probing().id
    'probing'
    >>> Probing(band=0.05, min_client_rows=100)
    Probing(band=0.05, min_client_rows=100, max_levels=32, min_effect=0.2)
    """

    kind: ClassVar[str] = "probing"
    objective: ClassVar[Objective] = Objective.SECURITY
    family: ClassVar[str] = "security"
    tab: ClassVar[str] = "operations"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH
    statistic: ClassVar[str] = "clients probing"
    min_rows: ClassVar[int] = 1

    def __init__(
        self,
        *,
        band: float = 0.05,
        min_client_rows: int = 50,
        max_levels: int = 32,
        min_effect: float = 0.2,
    ) -> None:
        self.band = band
        self.min_client_rows = min_client_rows
        self.max_levels = max_levels
        self.min_effect = min_effect

    @property
    def per_segment(self) -> bool:
        """Clients are judged on all their traffic, not per segment."""
        return False

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, ctx: FitContext) -> Self:
        if not 0 < self.band < 0.5:
            raise ConfigError(expected("parameter of probing", "band", "be in (0, 0.5)", self.band))
        if self.min_client_rows < 10:
            raise ConfigError(
                expected(
                    "parameter of probing", "min_client_rows", "be >= 10", self.min_client_rows
                )
            )
        grid: list[list[Any]] = []
        values: list[np.ndarray[Any, np.dtype[np.float64]]] = []
        for f in ctx.spec.features:
            if f.kind is not FeatureKind.NUMERIC:
                continue
            x = ctx.floats(f.name)
            if x is None:
                continue
            finite = x[np.isfinite(x)]
            if finite.size < 2:
                continue
            lo, hi = (float(v) for v in np.quantile(finite, [0.01, 0.99]))
            step = (hi - lo) / CELLS if hi > lo else 1.0
            grid.append([f.name, lo, step])
            values.append(x)
        self.grid_ = grid
        cells = quantize_columns(values, [g[1] for g in grid], [g[2] for g in grid])
        rows = len(cells[0]) if cells else 0
        self.collision_ = collision_rate_columns(cells, rows=rows) if rows >= 2 else 1.0
        # each column's check draws from its own seed: two at a time, numpy's sorts of a
        # million values release the GIL
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            reveal = list(pool.map(self._can_reveal_grid, values))
        self.gridable_ = [g[0] for g, ok in zip(grid, reveal, strict=True) if ok]
        score = ctx.spec.score
        s = ctx.floats(score) if score else None
        if s is not None:
            s = s[np.isfinite(s)]
            # events always carry it as 'score', whatever the reference calls it
            self.score_: str | None = "score"
            self.ref_near_ = int(np.sum(np.abs(s - 0.5) < self.band))
            self.ref_scored_ = int(s.size)
        else:
            self.score_, self.ref_near_, self.ref_scored_ = None, 0, 0
        cal = ctx.calibration
        self.alpha_ = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        self.false_alerts_per_month_ = cal.per_month(self.alpha_)
        return self

    def _can_reveal_grid(self, x: np.ndarray[Any, np.dtype[np.float64]]) -> bool:
        """No reference sample of a client's size looks like a grid in this feature."""
        finite = x[np.isfinite(x)]
        rng = np.random.default_rng(0)
        # all values distinct (a continuous feature): a sample holds as many levels as rows,
        # so one over max_levels is never a grid (sizes only grow: no later draw is skipped
        # that an earlier one depended on)
        distinct = np.unique(finite).size == finite.size
        for mult in NULL_SIZES:
            size = min(finite.size, mult * self.min_client_rows)
            if distinct and size > self.max_levels:
                break
            for _ in range(NULL_SAMPLES):
                sample = rng.choice(finite, size=size, replace=False)
                levels, counts = np.unique(sample, return_counts=True)
                if len(levels) <= self.max_levels and grid_like(levels, counts):
                    return False
        return True

    # -- evaluate ----------------------------------------------------------------------------
    def _request(self) -> ClientProfile:
        grid = tuple((str(c), float(lo), float(st)) for c, lo, st in getattr(self, "grid_", []))
        return ClientProfile(
            grid,
            score=getattr(self, "score_", None),
            band=self.band,
            min_rows=self.min_client_rows,
            max_levels=self.max_levels,
        )

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"Each client with {self.min_client_rows}+ events in a window is tested against "
            "the reference (grid sweeps, scores near the decision boundary, repeated rows); the "
            "monitor's share of the false-alarm budget is split between the clients tested.",
            threshold=0.0,
            false_alerts_per_month=self.learned().get("false_alerts_per_month_"),
        )

    def requests(self) -> list[Request]:
        return [Volume(), self._request()]

    def evaluate(self, data: WindowData) -> Result:
        n = data.n
        if n == 0:
            return self.result(data, Status.NO_DATA, reason="No events in this window.")
        profiles: dict[str, dict[str, Any]] = data.get(self._request()) or {}
        if not profiles:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"No client sent {self.min_client_rows} events or more in this window "
                "(events name their sender in client_id).",
            )
        alpha = self.alpha_ / (2 * len(profiles))
        found: dict[str, list[str]] = {}
        for client in sorted(profiles):
            patterns = self._patterns(profiles[client], alpha)
            if patterns:
                found[client] = patterns
        status = Status.ALERT if found else Status.OK
        if len(found) == 1:
            (client, patterns), *_ = found.items()
            reason = f"Client {client!r} probes the model: {'; '.join(patterns)}"
        elif found:
            parts = [f"client {c!r}: {'; '.join(p)}" for c, p in found.items()]
            reason = f"{len(found)} of {len(profiles)} clients probe the model. " + ". ".join(parts)
        else:
            reason = f"None of {len(profiles)} clients with {self.min_client_rows}+ events probes."
        details: dict[str, Any] = {"clients_tested": len(profiles), "alpha": alpha}
        if found:
            first = next(iter(found))
            details["client"] = first
            details["patterns"] = ", ".join(p.split(":")[0] for p in found[first])
            details["clients"] = {c: "; ".join(p) for c, p in list(found.items())[:10]}
        return self.result(
            data,
            status,
            value=float(len(found)),
            threshold=0.0,
            n=n,
            reason=reason,
            details=details,
        )

    def _patterns(self, prof: dict[str, Any], alpha: float) -> list[str]:
        out: list[str] = []
        rows = int(prof["n"])
        swept = [
            col
            for col in self.gridable_
            if col in prof["levels"]
            and grid_like([v for v, _ in prof["levels"][col]], [k for _, k in prof["levels"][col]])
        ]
        needed = min(2, len(self.gridable_))
        if needed and len(swept) >= needed and prof["cells"] >= rows / 2:
            levels = ", ".join(f"{c} ({len(prof['levels'][c])} levels)" for c in swept)
            out.append(f"grid sweep: {levels}, {prof['cells']} distinct inputs of {rows}")
        scored, near = int(prof["scored"]), int(prof["near_boundary"])
        if self.ref_scored_ and scored >= self.min_client_rows:
            share, base = near / scored, self.ref_near_ / self.ref_scored_
            if (
                share >= base + self.min_effect
                and fisher_p(near, scored, self.ref_near_, self.ref_scored_) <= alpha
            ):
                out.append(
                    f"decision boundary: {share:.0%} of scores within {self.band:g} of 0.5 "
                    f"(reference {base:.1%})"
                )
        if self.grid_:
            dups = rows - min(int(prof["cells"]), rows)
            if (
                dups >= self.min_effect * rows
                and duplicates_p(dups, rows, self.collision_) <= alpha
            ):
                out.append(f"near-duplicates: {dups} of {rows} inputs repeat a nearby one")
        return out
