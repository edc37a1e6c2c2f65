"""Benchmark of the multivariate drift monitor: false alerts and detection, whole reports.

Each report is ``mlwarden.report(reference, current)`` on seeded synthetic numeric
features (the path ``mlwarden check`` takes); the benchmark counts the reports in which
the ``multivariate_drift`` monitor alerts, and those that fail as a whole, with Wilson 95%
intervals. Null cases draw both files from one distribution (normal, lognormal and
Student-t(2) features); the shift case moves three features together by 0.05 SD each.

The batch budget is 1 false failing report per 100 runs, split over the report's monitors:
the monitor's own share (its alpha) is printed beside its rate, and, since 100 reports cannot
show a rate of 0.1%, the share of reports whose multivariate p-value is below 0.05 (about 5%
when the null law is right). Run it on main and on a
branch to compare (the script uses only ``mlwarden.report``):

    PYTHONPATH=src python bench/multivariate.py                 # 100 reports per case
    PYTHONPATH=src python bench/multivariate.py --reports 200 --cases null
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Case:
    name: str
    shapes: (
        str  # one letter per feature: n normal, l lognormal, t Student-t(2), c correlated normal
    )
    rows: int
    shift: float = 0.0  # in SDs, added to the first three features of the current file

    @property
    def null(self) -> bool:
        return self.shift == 0.0


CASES = [
    Case(f"{label} {k}k/{k}k", shapes, 1000 * k)
    for k in (1, 10)
    for label, shapes in (
        ("3 weakly correlated normal", "ccc"),
        ("t(2) + 2 normal", "tnn"),
        ("lognormal + 2 normal", "lnn"),
        ("t(2) + lognormal + normal", "tln"),
    )
] + [
    Case("3 normal, joint 0.05 SD shift 10k/10k", "nnn", 10_000, 0.05),
    Case("3 normal shifted + t(2) + lognormal + normal, 0.05 SD 10k/10k", "nnntln", 10_000, 0.05),
]


def draw(shapes: str, rows: int, shift: float, rng: np.random.Generator) -> pa.Table:
    common = rng.normal(size=rows)
    cols = {}
    for i, s in enumerate(shapes):
        if s == "n":
            x = rng.normal(size=rows)
        elif s == "c":  # correlation ~0.2 with the other "c" features
            x = 0.5 * common + rng.normal(size=rows)
            x /= math.sqrt(1.25)
        elif s == "l":
            x = rng.lognormal(size=rows)
        else:
            x = rng.standard_t(2, size=rows)
        if i < 3:
            x = x + shift  # the shifted features are normal: their SD is 1
        cols[f"f{i}"] = x
    return pa.table(cols)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def run(case: Case, reports: int, seed: int) -> dict[str, float]:
    import mlwarden
    from mlwarden.stats.thresholds import per_window_alpha

    alerts = failed = below = 0
    alpha = math.nan
    start = time.perf_counter()
    for i in range(reports):
        # a stream per case: the statistic reads ranks, so cases sharing one would share them
        rng = np.random.default_rng([seed, i, zlib.crc32(case.name.encode())])
        ref = draw(case.shapes, case.rows, 0.0, rng)
        cur = draw(case.shapes, case.rows, case.shift, rng)
        rep = mlwarden.report(ref, cur)
        mv = [r for r in rep.results if r.kind == "multivariate_drift" and r.segment is None]
        alerts += any(r.status.value == "alert" for r in mv)
        below += any((r.details.get("p_value") or 1.0) < 0.05 for r in mv)
        failed += rep.failed("alert")
        if math.isnan(alpha):
            s = rep.suite
            alpha = per_window_alpha(
                s.budget, window=s.calibration.cadence, monitors=len(s.monitors)
            )
    return {
        "alerts": alerts,
        "failed": failed,
        "p_below_5pct": below,
        "alpha": alpha,
        "seconds": (time.perf_counter() - start) / reports,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100, help="reports per case (default 100)")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--cases", choices=("all", "null", "shift"), default="all")
    ap.add_argument("--rows", type=int, default=0, help="only cases of this many rows")
    args = ap.parse_args(argv)
    cases = [
        c
        for c in CASES
        if (args.cases == "all" or (args.cases == "null") == c.null)
        and (not args.rows or c.rows == args.rows)
    ]
    head = (
        f"{'case':<64} {'multivariate alerts':>28} {'alpha':>8} {'p < 0.05':>8} "
        f"{'failed reports':>26} {'s/report':>8}"
    )
    print(head)
    for case in cases:
        r = run(case, args.reports, args.seed)
        lo, hi = wilson(int(r["alerts"]), args.reports)
        flo, fhi = wilson(int(r["failed"]), args.reports)
        rate = f"{r['alerts'] / args.reports:6.1%} [{lo:5.1%}, {hi:5.1%}]"
        fail = f"{r['failed'] / args.reports:6.1%} [{flo:5.1%}, {fhi:5.1%}]"
        print(
            f"{case.name:<64} {rate:>28} {r['alpha']:8.2g} "
            f"{r['p_below_5pct'] / args.reports:8.1%} {fail:>26} {r['seconds']:8.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
