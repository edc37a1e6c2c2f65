"""Two runs of one dataset compared item by item: mean differences and paired tests.

For each evaluator graded in both runs, over the items both runs graded (``value`` not
None in either): the mean of each run with a 95% confidence interval (Student's t), the mean
difference (``b - a``) with its interval, and a paired significance test:

* pass / fail evaluators: McNemar's exact test -- a two-sided binomial test (p = 1/2) on the
  discordant pairs (passed in one run only);
* numeric evaluators: the Wilcoxon signed-rank test (zero differences dropped, as scipy's
  default ``zero_method="wilcox"``; exact below 50 non-zero pairs without ties, else the
  normal approximation with tie correction) and the paired t-test beside it.

All three are scipy's (``scipy.stats.binomtest``, ``wilcoxon``, ``ttest_rel``). A test that
cannot be computed (fewer than two pairs, no differences at all) has ``p_value`` None and a
``reason``: never a NaN.

Examples
--------
>>> c = compare_scores([1, 1, 0, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1], scale="pass_fail")
>>> c.test, c.n, c.b_only, c.a_only, round(c.p_value, 4)
('mcnemar_exact', 8, 3, 0, 0.25)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["Comparison", "mean_ci", "compare_scores"]

LEVEL = 0.95


def mean_ci(
    x: Sequence[float] | npt.NDArray[np.float64], level: float = LEVEL
) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high): Student's t interval of the mean; None bounds below two values."""
    if not len(x):
        return None, None, None
    a = np.asarray(x, dtype=float)
    m = float(a.mean())
    if len(a) < 2:
        return m, None, None
    se = float(a.std(ddof=1)) / math.sqrt(len(a))
    half = float(stats.t.ppf(0.5 + level / 2, len(a) - 1)) * se
    return m, m - half, m + half


@dataclass(frozen=True)
class Comparison:
    """One evaluator, run ``a`` against run ``b`` on their common graded items."""

    n: int
    scale: str
    mean_a: float | None
    mean_b: float | None
    ci_a: tuple[float | None, float | None]
    ci_b: tuple[float | None, float | None]
    diff: float | None
    ci_diff: tuple[float | None, float | None]
    test: str
    p_value: float | None
    statistic: float | None = None
    t_test_p: float | None = None
    a_only: int = 0  # pass / fail: passed in a, failed in b
    b_only: int = 0
    improved: int = 0  # items whose value went up from a to b
    regressed: int = 0
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def compare_scores(a: Sequence[float], b: Sequence[float], *, scale: str) -> Comparison:
    """Compare paired values (``a[i]`` and ``b[i]`` grade one item)."""
    if len(a) != len(b):
        raise ValueError("paired values: a and b must have the same length")
    n = len(a)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = xb - xa
    ma, la, ha = mean_ci(xa)
    mb, lb, hb = mean_ci(xb)
    md, ld, hd = mean_ci(d)
    base: dict[str, Any] = {
        "n": n, "scale": scale, "mean_a": ma, "mean_b": mb, "ci_a": (la, ha), "ci_b": (lb, hb),
        "diff": md, "ci_diff": (ld, hd), "improved": int((d > 0).sum()),
        "regressed": int((d < 0).sum()),
    }  # fmt: skip
    if scale == "pass_fail":
        pa_, pb_ = xa >= 0.5, xb >= 0.5
        a_only, b_only = int((pa_ & ~pb_).sum()), int((pb_ & ~pa_).sum())
        k = a_only + b_only
        if k == 0:
            return Comparison(**base, test="mcnemar_exact", p_value=None, a_only=0, b_only=0,
                              reason="no item passed in one run and failed in the other")  # fmt: skip
        p = float(stats.binomtest(b_only, k, 0.5).pvalue)
        return Comparison(**base, test="mcnemar_exact", p_value=p, statistic=float(b_only),
                          a_only=a_only, b_only=b_only)  # fmt: skip
    if n < 2:
        return Comparison(
            **base, test="wilcoxon", p_value=None, reason="fewer than two paired items"
        )
    if not np.any(d != 0):
        return Comparison(**base, test="wilcoxon", p_value=None,
                          reason="every item has the same value in both runs")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of ties / small samples: the method says
        w = stats.wilcoxon(xb, xa)
        t = stats.ttest_rel(xb, xa)
    return Comparison(**base, test="wilcoxon", p_value=_finite(w.pvalue),
                      statistic=_finite(w.statistic), t_test_p=_finite(t.pvalue))  # fmt: skip
