"""Whole-report false alarms and small-shift detection of ``mlwarden check``, per size.

Identical-distribution reference/current pairs (seeded) over 20 columns of the shapes users
have (normal, lognormal, Student-t(2), exponential, uniform, integers 0-5, a zero-inflated
amount, a binary flag, categorical columns of 3 to 300 categories, uniform and Zipf, and a
binary prediction), run through ``mlwarden.report`` (the path ``mlwarden check`` takes, in
process). Prints the share of reports ``check --fail-on alert`` fails, with a 95%
Clopper-Pearson interval, against the batch budget (1 false failing report per 100 runs),
the share per monitor kind, and, with small planted shifts (0.1 SD mean shift, a binary
50/50 -> 55/45, 5 points moved between the top two categories, a zero-inflated column's zero
share +5 points; and, in reports of their own, three features moving together by 0.05 SD
each), the detection rate per column and size. A benchmark: it prints, it asserts nothing.

    python bench/false_alarms.py                      # 100 reports per size and scenario
    python bench/false_alarms.py --reports 20 --sizes 1000/1000
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from scipy import stats

import mlwarden

SIZES = ((1000, 1000), (10_000, 10_000), (100_000, 10_000), (10_000, 100_000))
BUDGET = 0.01  # the batch budget: 1 false failing report per 100 runs
CATEGORIES = (3, 10, 30, 100, 300)
JOINT = ("normal", "normal_b", "uniform")  # the three features of the joint shift
ZERO_SHARE = 0.3


def _cat_probs(k: int, zipf: bool) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) if zipf else np.ones(k)
    return p / p.sum()


def _categorical(rng: np.random.Generator, n: int, k: int, zipf: bool, shift: bool) -> pa.Array:
    p = _cat_probs(k, zipf)
    if shift:  # 5 points from the second category to the first (where it has them)
        p = p.copy()
        p[0] += 0.05
        p[1] -= 0.05
    labels = np.array([f"c{i:03d}" for i in range(k)], dtype=object)
    return pa.array(labels[rng.choice(k, n, p=p)], pa.string())


def shiftable(name: str) -> bool:
    """Columns that take a planted shift (uniform categories have no 5 points to move)."""
    if name.startswith("cat"):
        k, zipf = int(name[3:].split("_")[0]), name.endswith("zipf")
        return _cat_probs(k, zipf)[1] >= 0.05
    return name in ("normal", "lognormal", "t2", "exponential", "binary", "zero_inflated")


def make_table(
    rng: np.random.Generator, n: int, *, shift: bool = False, joint: bool = False
) -> pa.Table:
    """One file of ``n`` rows; ``shift`` plants the small shifts, ``joint`` the joint one."""
    lognormal_sd = float(np.sqrt((np.e - 1) * np.e))
    d = 0.1 if shift else 0.0
    j = 0.05 if joint else 0.0
    cols: dict[str, pa.Array] = {}
    cols["normal"] = pa.array(rng.normal(d + j, 1.0, n))
    cols["normal_b"] = pa.array(rng.normal(j, 1.0, n))
    cols["lognormal"] = pa.array(rng.lognormal(0.0, 1.0, n) + d * lognormal_sd)
    cols["t2"] = pa.array(rng.standard_t(2, n) + d)  # no SD: 0.1 of its scale
    cols["exponential"] = pa.array(rng.exponential(1.0, n) + d)
    cols["uniform"] = pa.array(rng.uniform(0.0, 1.0, n) + j / np.sqrt(12))
    cols["int0_5"] = pa.array(rng.binomial(5, 0.4, n).astype(np.int64))
    zero = rng.random(n) < ZERO_SHARE + (0.05 if shift else 0.0)
    cols["zero_inflated"] = pa.array(np.where(zero, 0.0, rng.lognormal(3.0, 1.0, n)))
    yes = rng.random(n) < (0.55 if shift else 0.5)
    cols["binary"] = pa.array(np.where(yes, "yes", "no").astype(object), pa.string())
    for k in CATEGORIES:
        for zipf in (False, True):
            name = f"cat{k}_{'zipf' if zipf else 'uniform'}"
            cols[name] = _categorical(rng, n, k, zipf, shift and shiftable(name))
    cols["prediction"] = pa.array(rng.binomial(1, 0.3, n).astype(np.int64))
    return pa.table(cols)


def run_report(ref: pa.Table, cur: pa.Table) -> list[tuple[str, str, str | None]]:
    """(monitor id, kind, column) of each whole-model alert of one report."""
    rep = mlwarden.report(ref, cur, prediction="prediction")
    return [(r.monitor, r.kind, r.column) for r in rep.alerts]


def interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def scenario(
    n_ref: int,
    n_cur: int,
    reports: int,
    seed: int,
    make_cur: Callable[[np.random.Generator, int], pa.Table],
) -> tuple[int, Counter[str], Counter[str], Counter[str], float]:
    """Failing reports, reports alerting per kind / per column / per monitor, seconds each."""
    failed = 0
    kinds: Counter[str] = Counter()
    columns: Counter[str] = Counter()
    monitors: Counter[str] = Counter()
    t0 = time.perf_counter()
    for i in range(reports):
        rng = np.random.default_rng([seed, n_ref, n_cur, i])
        alerts = run_report(make_table(rng, n_ref), make_cur(rng, n_cur))
        failed += bool(alerts)
        kinds.update({k for _, k, _ in alerts})
        columns.update({c for _, _, c in alerts if c})
        monitors.update({m for m, _, _ in alerts})
    return failed, kinds, columns, monitors, (time.perf_counter() - t0) / max(reports, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100, help="reports per size and scenario")
    ap.add_argument("--sizes", nargs="*", help="n_ref/n_cur pairs (default: the four sizes)")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--no-shifts", action="store_true", help="only the null reports")
    ap.add_argument("--no-joint", action="store_true", help="skip the joint-shift reports")
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("/")) for s in args.sizes] if args.sizes else list(SIZES)
    names = make_table(np.random.default_rng(0), 10).column_names
    print(f"mlwarden {mlwarden.__version__}; {args.reports} reports per size; budget {BUDGET:.0%}")
    for n_ref, n_cur in sizes:
        print(f"\n== reference {n_ref:,} / current {n_cur:,} ==")
        failed, kinds, _, monitors, secs = scenario(
            n_ref, n_cur, args.reports, args.seed, lambda r, n: make_table(r, n)
        )
        lo, hi = interval(failed, args.reports)
        verdict = "within" if lo <= BUDGET else "OVER"
        print(
            f"null: check --fail-on alert fails {failed}/{args.reports} = "
            f"{failed / args.reports:.1%} [95% {lo:.1%}, {hi:.1%}] ({verdict} budget "
            f"{BUDGET:.0%}); {secs:.2f} s per report"
        )
        for kind, k in sorted(kinds.items()):
            print(f"  {kind:<22} {k / args.reports:6.1%} of reports")
        for mon, k in monitors.most_common(8):
            print(f"    {mon:<38} {k}")
        if args.no_shifts:
            continue
        _, _, cols, _, _ = scenario(
            n_ref, n_cur, args.reports, args.seed + 1, lambda r, n: make_table(r, n, shift=True)
        )
        print("planted small shifts, share of reports alerting on the column:")
        for name in names:
            tag = "shifted" if shiftable(name) else "null   "
            print(f"  {tag} {name:<18} {cols.get(name, 0) / args.reports:6.1%}")
        if args.no_joint:
            continue
        _, kinds_j, _, _, _ = scenario(
            n_ref, n_cur, args.reports, args.seed + 2, lambda r, n: make_table(r, n, joint=True)
        )
        print(
            f"joint 0.05 SD shift of {', '.join(JOINT)}: multivariate_drift alerts in "
            f"{kinds_j.get('multivariate_drift', 0) / args.reports:.1%}"
        )


if __name__ == "__main__":
    main()
