"""Drift statistics from binned counts: reference counts vs current counts over the same bins.

Every function takes two count vectors aligned to one baseline (see
:mod:`mlwarden.stats.baseline`) and returns a :class:`DriftResult`. Counts may
be huge (1e12): they are used as float64, exact up to totals of 2**53.

A statistic that cannot be computed raises :class:`~mlwarden.errors.StatisticsError`
(a window with no non-missing value, mismatched vectors, negative counts); the
monitor layer maps that to ``no_data``. Nothing returns NaN.

Conventions:

* ``ks``: two-sample Kolmogorov-Smirnov, sup of the CDF difference at the bin
  edges. Exact for data whose distinct values each have a bin; otherwise off by
  at most the largest reference bin mass (< 0.0015 for default baselines).
  p-value from the two-sample asymptotic distribution with the effective size
  ``en = n1*n2/(n1+n2)``, as ``scipy.stats.ks_2samp(method="asymp")``.
* ``wasserstein``: W1 between the finite parts, divided by the reference std
  (Evidently's "normed" Wasserstein; 1.0 = a shift of one reference std).
  Within a bin both CDFs are taken to step at the reference's mean of that
  bin (exact for one value per bin, right for heavy tails where a linear CDF
  is far off); outside the reference range the values' sums are used, exact
  when only one side lies there (the reference never does). Measured against
  ``scipy.stats.wasserstein_distance`` on raw data: within 2% + 0.002 (std
  units) on normal / lognormal data, within 15% on Student-t(2).
* ``psi``: population stability index ``sum((q-p) ln(q/p))`` on proportions,
  each proportion floored at ``PSI_EPSILON = 1e-4`` (as Evidently) so an empty
  bin costs a finite amount.
* ``jensen_shannon``: JS *distance*, base 2, in [0, 1].
* ``chi_square``: Pearson test of homogeneity of the 2 x k table (reference
  treated as a sample), all-zero columns dropped, no continuity correction.
* ``total_variation`` = ½ sum|p-q|, ``l_infinity`` = max|p-q| over bins.
* ``new_category_share``: share of the current window in bins the reference
  never saw (the ``__unseen__`` category; for numeric bins, out of range).

Numeric baselines have ~1000 fine bins: ``ks`` and ``wasserstein`` use them;
the bin-wise statistics use the baseline's ``COARSE_BINS`` reference deciles
(PSI's convention), where sampling noise does not swamp them. Categorical
bin-wise statistics run on :func:`pool_rare` counts: categories seen fewer
than ``MIN_CATEGORY_COUNT = 5`` times in the reference, and unseen ones, are
one bucket (``new_category_share`` keeps them apart). The monitor layer must
compute a statistic on the same view its threshold was calibrated on:
:func:`numeric_drift` / :func:`categorical_drift` do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from mlwarden.errors import StatisticsError, expected
from mlwarden.stats.baseline import (
    CategoricalBaseline,
    CategoryCounts,
    NumericBaseline,
    NumericHistogram,
)
from mlwarden.stats.tails import chi2_sf, kolmogorov_sf, kstwo_sf

__all__ = [
    "COARSE_BINS",
    "MIN_CATEGORY_COUNT",
    "PSI_EPSILON",
    "STATISTICS",
    "DriftResult",
    "categorical_drift",
    "chi_square",
    "jensen_shannon",
    "ks",
    "ks_sf",
    "l_infinity",
    "new_category_share",
    "numeric_drift",
    "pool_rare",
    "psi",
    "total_variation",
    "wasserstein",
]

PSI_EPSILON = 1e-4
COARSE_BINS = 10
MIN_CATEGORY_COUNT = 5
_Floats = npt.NDArray[np.float64]
#: a count vector: array-like, or a histogram / category counts from a baseline
Counts = npt.ArrayLike | NumericHistogram | CategoryCounts


@dataclass(frozen=True)
class DriftResult:
    """One drift statistic on one window.

    Examples
    --------
    >>> ks([5, 5], [2, 8]).value
    0.3
    """

    statistic: str
    value: float
    p_value: float | None
    n_reference: int
    n_current: int


def _pair(reference: Counts, current: Counts) -> tuple[_Floats, _Floats]:
    """Validate two count vectors; return them as float64 1-D arrays."""
    out = []
    for name, counts in (("reference", reference), ("current", current)):
        if isinstance(counts, NumericHistogram | CategoryCounts):
            counts = counts.counts
        try:
            arr = np.asarray(counts, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise StatisticsError(
                expected("count vector", name, "hold numbers", type(counts).__name__)
            ) from exc
        if arr.ndim != 1 or arr.size == 0:
            raise StatisticsError(
                expected("count vector", name, "be a non-empty 1-D vector", arr.shape)
            )
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise StatisticsError(
                expected("count vector", name, "hold finite non-negative counts", arr.min())
            )
        if arr.sum() <= 0:
            raise StatisticsError(
                expected("count vector", name, "hold at least one count (no data)", 0)
            )
        out.append(arr)
    if out[0].size != out[1].size:
        raise StatisticsError(
            expected(
                "count vector",
                "current",
                f"have {out[0].size} bins like the reference",
                out[1].size,
            )
        )
    return out[0], out[1]


def _proportions(counts: _Floats) -> _Floats:
    return counts / counts.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


# --- batch kernels: rows are windows (shape (R, K)); used for observed and simulated values ---


def _ks_kernel(r: _Floats, c: _Floats) -> _Floats:
    d = np.cumsum(r, axis=-1) / r.sum(-1, keepdims=True)
    d -= np.cumsum(c, axis=-1) / c.sum(-1, keepdims=True)
    return np.abs(d).max(axis=-1)  # type: ignore[no-any-return]


def _psi_kernel(r: _Floats, c: _Floats) -> _Floats:
    p = np.maximum(_proportions(r), PSI_EPSILON)
    q = np.maximum(_proportions(c), PSI_EPSILON)
    return ((q - p) * np.log(q / p)).sum(axis=-1)  # type: ignore[no-any-return]


def _js_kernel(r: _Floats, c: _Floats) -> _Floats:
    p, q = _proportions(r), _proportions(c)
    m = (p + q) / 2
    js = (special.rel_entr(p, m).sum(-1) + special.rel_entr(q, m).sum(-1)) / 2
    return np.sqrt(np.maximum(js, 0.0) / math.log(2))  # type: ignore[no-any-return]


def _tv_kernel(r: _Floats, c: _Floats) -> _Floats:
    return 0.5 * np.abs(_proportions(r) - _proportions(c)).sum(axis=-1)  # type: ignore[no-any-return]


def _linf_kernel(r: _Floats, c: _Floats) -> _Floats:
    return np.abs(_proportions(r) - _proportions(c)).max(axis=-1)  # type: ignore[no-any-return]


def _unseen_kernel(r: _Floats, c: _Floats) -> _Floats:
    return np.where(r == 0, c, 0.0).sum(-1) / c.sum(-1)  # type: ignore[no-any-return]


def _chi2_kernel(r: _Floats, c: _Floats) -> _Floats:
    n1, n2 = r.sum(-1, keepdims=True), c.sum(-1, keepdims=True)
    col = r + c
    share = np.divide(col, n1 + n2)
    e1, e2 = n1 * share, n2 * share
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(col > 0, (r - e1) ** 2 / e1 + (c - e2) ** 2 / e2, 0.0)
    return t.sum(axis=-1)  # type: ignore[no-any-return]


def _pool_kernel(r: _Floats, c: _Floats, min_count: float) -> tuple[_Floats, _Floats]:
    """Merge, row by row, the bins with fewer than ``min_count`` reference counts into one."""
    rare = r < min_count
    pooled_r = np.where(rare, 0.0, r)
    pooled_c = np.where(rare, 0.0, c)
    return (
        np.concatenate([pooled_r, (r - pooled_r).sum(-1, keepdims=True)], axis=-1),
        np.concatenate([pooled_c, (c - pooled_c).sum(-1, keepdims=True)], axis=-1),
    )


def pool_rare(
    reference: Counts, current: Counts, *, min_count: int = MIN_CATEGORY_COUNT
) -> tuple[_Floats, _Floats]:
    """Merge the bins with fewer than ``min_count`` reference counts (and unseen ones) into one.

    Categorical statistics are computed on these pooled counts: a category
    seen once or twice in the reference says little about its true share,
    and comparing it bin by bin makes noise (Cochran's rule for chi-square).

    Examples
    --------
    >>> r, c = pool_rare([50, 3, 1, 0], [40, 5, 0, 5])
    >>> r.tolist(), c.tolist()
    ([50.0, 0.0, 0.0, 0.0, 4.0], [40.0, 0.0, 0.0, 0.0, 10.0])
    """
    r, c = _pair(reference, current)
    return _pool_kernel(r, c, float(min_count))


def _chi2_df(r: _Floats, c: _Floats) -> _Floats:
    return np.maximum(((r + c) > 0).sum(axis=-1) - 1, 0).astype(np.float64)  # type: ignore[no-any-return]


def _tail(
    mass1: _Floats, at1: _Floats, mass2: _Floats, at2: _Floats, edge: float, upper: bool
) -> _Floats:
    """Integral of |F1 - F2| outside an edge, each side's tail an atom at its mean."""
    d1, d2 = np.abs(at1 - edge), np.abs(at2 - edge)  # distances from the edge
    near, far = np.minimum(d1, d2), np.maximum(d1, d2)
    far_mass = np.where(d1 >= d2, mass1, mass2)
    del upper  # symmetric: only the distances to the edge matter
    return np.abs(mass1 - mass2) * near + far_mass * (far - near)  # type: ignore[no-any-return]


def _wasserstein_kernel(
    r: _Floats,
    c: _Floats,
    edges: _Floats,
    centers: _Floats,
    tails_r: tuple[_Floats, _Floats] | None = None,
    tails_c: tuple[_Floats, _Floats] | None = None,
) -> _Floats:
    """W1 over bins laid out as in NumericBaseline (k edges, k+3 bins), infinities dropped."""
    fr, fc = r[..., 1:-1], c[..., 1:-1]  # finite bins: (-inf,e0), [e0,e1), ..., [e_{k-1}, inf)
    n_r, n_c = fr.sum(-1, keepdims=True), fc.sum(-1, keepdims=True)
    p, q = fr / n_r, fc / n_c
    d = np.cumsum(p - q, axis=-1)[..., :-1]  # F1 - F2 just below each edge e_0 .. e_{k-1}
    # inside a bin both CDFs step at the reference's mean of the bin
    inner = np.abs(d[..., :-1]) @ (centers - edges[:-1]) + np.abs(d[..., 1:]) @ (
        edges[1:] - centers
    )
    k = edges.size
    total = inner
    for j, (edge, upper) in enumerate(((float(edges[0]), False), (float(edges[-1]), True))):
        b = k if upper else 0
        m1, m2 = p[..., b], q[..., b]
        s1 = tails_r[j] if tails_r is not None else np.zeros_like(m1)
        s2 = tails_c[j] if tails_c is not None else np.zeros_like(m2)
        with np.errstate(divide="ignore", invalid="ignore"):
            at1 = np.where(fr[..., b] > 0, s1 / fr[..., b], edge)
            at2 = np.where(fc[..., b] > 0, s2 / fc[..., b], edge)
        total = total + _tail(m1, at1, m2, at2, edge, upper)
    return total  # type: ignore[no-any-return]


def ks_sf(d: float, en: float) -> float:
    """Survival function of the two-sample KS statistic for effective size ``en``.

    ``scipy.stats.kstwo`` at ``round(en)`` up to en = 10,000 (what ``ks_2samp``
    uses); beyond, Kolmogorov's limit with Stephens' correction
    ``(sqrt(en) + 0.12 + 0.11/sqrt(en)) * d`` (kstwo is slow there; same to 1e-3).

    Examples
    --------
    >>> round(ks_sf(0.1, 500.0), 4)
    0.0001
    """
    if en <= 10_000:
        return kstwo_sf(d, max(round(en), 1))
    s = math.sqrt(en)
    return kolmogorov_sf((s + 0.12 + 0.11 / s) * d)


def _result(name: str, value: float, p: float | None, r: _Floats, c: _Floats) -> DriftResult:
    return DriftResult(name, float(value), p, int(round(r.sum())), int(round(c.sum())))


def ks(reference: Counts, current: Counts) -> DriftResult:
    """Kolmogorov-Smirnov statistic and p-value from counts over ordered bins.

    Examples
    --------
    >>> res = ks([10, 20, 30, 40], [40, 30, 20, 10])
    >>> round(res.value, 3), round(res.p_value, 4)
    (0.4, 0.0)
    """
    r, c = _pair(reference, current)
    d = float(_ks_kernel(r, c))
    n1, n2 = r.sum(), c.sum()
    return _result("ks", d, ks_sf(d, n1 * n2 / (n1 + n2)), r, c)


def psi(reference: Counts, current: Counts) -> DriftResult:
    """Population stability index (proportions floored at ``PSI_EPSILON``).

    Examples
    --------
    >>> round(psi([50, 50], [60, 40]).value, 4)
    0.0405
    """
    r, c = _pair(reference, current)
    return _result("psi", float(_psi_kernel(r, c)), None, r, c)


def jensen_shannon(reference: Counts, current: Counts) -> DriftResult:
    """Jensen-Shannon distance, base 2 (``scipy.spatial.distance.jensenshannon``).

    Examples
    --------
    >>> jensen_shannon([1, 0], [0, 1]).value
    1.0
    """
    r, c = _pair(reference, current)
    return _result("jensen_shannon", float(_js_kernel(r, c)), None, r, c)


def total_variation(reference: Counts, current: Counts) -> DriftResult:
    """Total variation distance ½ sum|p - q| between bin proportions.

    Examples
    --------
    >>> round(total_variation([50, 50], [60, 40]).value, 6)
    0.1
    """
    r, c = _pair(reference, current)
    return _result("total_variation", float(_tv_kernel(r, c)), None, r, c)


def l_infinity(reference: Counts, current: Counts) -> DriftResult:
    """Largest absolute change of one bin's proportion.

    Examples
    --------
    >>> round(l_infinity([50, 30, 20], [50, 20, 30]).value, 6)
    0.1
    """
    r, c = _pair(reference, current)
    return _result("l_infinity", float(_linf_kernel(r, c)), None, r, c)


def new_category_share(reference: Counts, current: Counts) -> DriftResult:
    """Share of the current window in bins with no reference count.

    Examples
    --------
    >>> b = CategoricalBaseline.from_values(["a", "b"])
    >>> new_category_share(b.reference, b.count(["a", "c", "d", "a"])).value
    0.5
    """
    r, c = _pair(reference, current)
    return _result("new_category_share", float(_unseen_kernel(r, c)), None, r, c)


def chi_square(reference: Counts, current: Counts) -> DriftResult:
    """Chi-square test of homogeneity (``scipy.stats.chi2_contingency(correction=False)``).

    Examples
    --------
    >>> res = chi_square([50, 50], [60, 40])
    >>> round(res.value, 4), round(res.p_value, 4)
    (2.0202, 0.1552)
    """
    r, c = _pair(reference, current)
    stat = float(_chi2_kernel(r, c))
    df = float(_chi2_df(r, c))
    p = 1.0 if df == 0 else chi2_sf(stat, df)
    return _result("chi_square", stat, p, r, c)


def wasserstein(
    baseline: NumericBaseline,
    current: NumericHistogram,
    *,
    reference: NumericHistogram | None = None,
) -> DriftResult:
    """Wasserstein-1 distance of the finite values, divided by the reference std.

    ``reference`` defaults to the baseline's own histogram. For a constant
    reference (std 0) the distance is left in the feature's units.

    Examples
    --------
    >>> b = NumericBaseline.from_values([0.0, 1.0, 2.0, 3.0])
    >>> round(wasserstein(b, b.bin([1.0, 2.0, 3.0, 4.0])).value, 4)
    0.8944
    """
    ref = baseline.reference if reference is None else reference
    r, c = _pair(ref, current)
    if r.size != baseline.n_bins:
        raise StatisticsError(
            expected("histogram", "current", f"have {baseline.n_bins} bins", r.size)
        )
    for name, arr in (("reference", r), ("current", c)):
        if arr[1:-1].sum() <= 0:
            raise StatisticsError(expected("histogram", name, "hold at least one finite value", 0))
    edges = np.asarray(baseline.edges, dtype=np.float64)
    tails_r = (np.array(ref.low_sum), np.array(ref.high_sum))
    tails_c = (np.array(current.low_sum), np.array(current.high_sum))
    centers = np.asarray(baseline.centers, dtype=np.float64)
    w = float(_wasserstein_kernel(r, c, edges, centers, tails_r, tails_c))
    return DriftResult(
        "wasserstein", w / baseline.scale, None, int(r[1:-1].sum()), int(c[1:-1].sum())
    )


Kernel = Callable[[_Floats, _Floats], _Floats]

#: statistic name -> (batch kernel, needs ordered bins, uses fine numeric bins)
STATISTICS: dict[str, tuple[Kernel | None, bool, bool]] = {
    "ks": (_ks_kernel, True, True),
    "wasserstein": (None, True, True),
    "psi": (_psi_kernel, False, False),
    "jensen_shannon": (_js_kernel, False, False),
    "chi_square": (_chi2_kernel, False, False),
    "total_variation": (_tv_kernel, False, False),
    "l_infinity": (_linf_kernel, False, False),
    "new_category_share": (_unseen_kernel, False, False),
}

_PUBLIC: dict[str, Callable[[Counts, Counts], DriftResult]] = {
    "ks": ks,
    "psi": psi,
    "jensen_shannon": jensen_shannon,
    "chi_square": chi_square,
    "total_variation": total_variation,
    "l_infinity": l_infinity,
    "new_category_share": new_category_share,
}


def numeric_drift(
    reference: npt.ArrayLike | NumericBaseline,
    current: npt.ArrayLike | NumericHistogram,
) -> dict[str, DriftResult]:
    """All numeric statistics between a reference (raw or baseline) and a current window.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> res = numeric_drift(rng.normal(size=5000), rng.normal(0.5, 1, size=5000))
    >>> sorted(res), round(res["ks"].value, 2), round(res["wasserstein"].value, 1)
    (['chi_square', 'jensen_shannon', 'ks', 'l_infinity', 'psi', 'total_variation', 'wasserstein'], 0.21, 0.5)
    """
    base = (
        reference
        if isinstance(reference, NumericBaseline)
        else (NumericBaseline.from_values(reference))
    )
    hist = current if isinstance(current, NumericHistogram) else base.bin(current)
    out = {"ks": ks(base.reference, hist), "wasserstein": wasserstein(base, hist)}
    coarse_r = base.coarsen(base.reference.counts, COARSE_BINS)
    coarse_c = base.coarsen(hist.counts, COARSE_BINS)
    for name in ("psi", "jensen_shannon", "chi_square", "total_variation", "l_infinity"):
        out[name] = _PUBLIC[name](coarse_r, coarse_c)
    return out


def categorical_drift(
    reference: npt.ArrayLike | CategoricalBaseline,
    current: npt.ArrayLike | CategoryCounts,
) -> dict[str, DriftResult]:
    """All categorical statistics between a reference (raw or baseline) and a current window.

    Examples
    --------
    >>> res = categorical_drift(["a"] * 50 + ["b"] * 50, ["a"] * 55 + ["b"] * 40 + ["c"] * 5)
    >>> res["new_category_share"].value, round(res["total_variation"].value, 6)
    (0.05, 0.1)
    """
    base = (
        reference
        if isinstance(reference, CategoricalBaseline)
        else (CategoricalBaseline.from_values(np.asarray(reference, dtype=object).ravel()))
    )
    counts = (
        current
        if isinstance(current, CategoryCounts)
        else (base.count(np.asarray(current, dtype=object).ravel()))
    )
    pooled_r, pooled_c = pool_rare(base.reference, counts)
    out = {
        name: fn(pooled_r, pooled_c)
        for name, fn in _PUBLIC.items()
        if name not in ("ks", "new_category_share")
    }
    out["new_category_share"] = new_category_share(base.reference, counts)
    return out
