"""Reference baselines: the fixed bins and category sets every window is counted against.

A baseline is derived once from a reference data set. Windows are then reduced
to *additive* counts over the baseline's bins (the store pushes that down to
the engine), so counts of two windows add up to the counts of their union.

Numeric bin layout (``len(edges) + 3`` bins, edges ``e_0 < ... < e_{k-1}``)::

    0: -inf | 1: (-inf, e_0) | 2: [e_0, e_1) | ... | k: [e_{k-2}, e_{k-1}) | k+1: [e_{k-1}, +inf) | k+2: +inf

``e_0`` is the reference minimum and ``e_{k-1}`` the float just above the
reference maximum, so bins 1 and ``k+1`` hold only values outside the reference
range. Interior edges are reference quantiles (about ``max_bins`` of them,
each holding at most ~1/max_bins of the reference), deduplicated; each value
heavier than one bin gets a bin of its own (``[v, nextafter(v))``), and a
reference with at most ``max_bins`` distinct values gets one bin per value
(``point_bins``). NaN is missing: counted in ``n_missing``, never binned.

Categorical layout: the reference's top-K categories (by count, ties by name),
then ``__other__`` (the reference's remaining categories, aggregated), then
``__unseen__`` (current categories absent from the reference). When the
reference was truncated (``__other__`` non-empty), an unknown current category
cannot be told from a rare reference one and is counted in ``__other__``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected
from mlwarden.stats.binning import EdgeIndex

__all__ = [
    "OTHER",
    "QUANTILE_LEVELS",
    "UNSEEN",
    "CategoricalBaseline",
    "CategoryCounts",
    "NumericBaseline",
    "NumericHistogram",
]

OTHER = "__other__"
UNSEEN = "__unseen__"
QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

_Counts = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]


def _as_float_array(values: npt.ArrayLike, name: str) -> _Floats:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(expected("input", name, "be numeric", type(values).__name__)) from exc
    return x.ravel()


def _check_counts(counts: Iterable[int], name: str) -> tuple[int, ...]:
    out = tuple(int(c) for c in counts)
    if any(c < 0 for c in out):
        raise StatisticsError(expected("count vector", name, "be non-negative", min(out)))
    return out


@dataclass(frozen=True)
class NumericHistogram:
    """Counts of one window over a :class:`NumericBaseline`'s bins (mergeable by ``+``).

    ``low_sum`` / ``high_sum`` are the sums of the finite values below the first
    edge / at or above the last edge (outside the reference range); the
    Wasserstein distance needs them to measure how far outside the values lie.

    Examples
    --------
    >>> b = NumericBaseline.from_values([1.0, 2.0, 3.0])
    >>> h = b.bin([2.0, 5.0]) + b.bin([float("nan"), 1.0])
    >>> h.counts, h.n, h.n_missing, h.high_sum
    ((0, 0, 1, 1, 0, 1, 0), 3, 1, 5.0)
    """

    counts: tuple[int, ...]
    n_missing: int = 0
    low_sum: float = 0.0
    high_sum: float = 0.0

    @property
    def n(self) -> int:
        """Number of non-missing values (infinities included)."""
        return sum(self.counts)

    @cached_property
    def array(self) -> _Counts:
        """The counts as an int64 array."""
        return np.asarray(self.counts, dtype=np.int64)

    def __add__(self, other: NumericHistogram) -> NumericHistogram:
        if len(other.counts) != len(self.counts):
            raise StatisticsError(
                expected("histogram", "other", f"have {len(self.counts)} bins", len(other.counts))
            )
        return NumericHistogram(
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            n_missing=self.n_missing + other.n_missing,
            low_sum=self.low_sum + other.low_sum,
            high_sum=self.high_sum + other.high_sum,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "counts": list(self.counts),
            "n_missing": self.n_missing,
            "low_sum": self.low_sum,
            "high_sum": self.high_sum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericHistogram:
        """Inverse of :meth:`to_dict`."""
        return cls(
            counts=_check_counts(data["counts"], "counts"),
            n_missing=int(data.get("n_missing", 0)),
            low_sum=float(data.get("low_sum", 0.0)),
            high_sum=float(data.get("high_sum", 0.0)),
        )


@dataclass(frozen=True)
class NumericBaseline:
    """Bin edges and summary of a numeric reference column.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.random.default_rng(0).normal(size=10_000)
    >>> b = NumericBaseline.from_values(ref)
    >>> len(b.edges), b.n, b.n_missing, len(b.reference.counts) == len(b.edges) + 3
    (1001, 10000, 0, True)
    >>> NumericBaseline.from_dict(b.to_dict()) == b
    True
    >>> NumericBaseline.from_values([3.0, 3.0, float("nan")]).edges
    (3.0, 3.0000000000000004)
    """

    edges: tuple[float, ...]
    reference: NumericHistogram
    point_bins: bool = False
    centers: tuple[float, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: tuple[float, ...] | None = None
    tails: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of non-missing reference values."""
        return self.reference.n

    @property
    def n_missing(self) -> int:
        """Number of missing (NaN / None) reference values."""
        return self.reference.n_missing

    @property
    def n_bins(self) -> int:
        """Length of every count vector aligned to this baseline."""
        return len(self.edges) + 3

    @property
    def scale(self) -> float:
        """Reference standard deviation, or 1.0 for a constant or empty reference."""
        return self.std if self.std else 1.0

    @classmethod
    def from_values(
        cls,
        values: npt.ArrayLike,
        *,
        max_bins: int = 1000,
        sample_size: int = 200_000,
        seed: int = 0,
    ) -> NumericBaseline:
        """Build a baseline from raw reference values.

        Edges come from a seeded subsample of at most ``sample_size`` finite
        values (all of them when fewer): each quantile bin then holds about
        ``1/max_bins`` of the reference, below 0.0015 for the defaults. Summary
        quantiles are exact up to ``sample_size`` values, otherwise
        interpolated within the fine bins.

        Examples
        --------
        >>> b = NumericBaseline.from_values([0, 1, 1, 2, float("inf")])
        >>> b.point_bins, b.edges, b.reference.counts
        (True, (0.0, 1.0, 2.0, 2.0000000000000004), (0, 0, 1, 2, 1, 0, 1))
        """
        if max_bins < 2:
            raise StatisticsError(expected("parameter", "max_bins", "be at least 2", max_bins))
        x = _as_float_array(values, "values")
        ok = np.isfinite(x)
        finite = x if ok.all() else x[ok]
        m = finite.size
        if m == 0:
            hist = NumericHistogram(
                counts=(int(np.sum(x == -np.inf)), 0, int(np.sum(x == np.inf))),
                n_missing=int(np.isnan(x).sum()),
            )
            return cls(edges=(), reference=hist)
        with np.errstate(over="ignore", invalid="ignore"):  # values near the float limits
            return cls._build(x, finite, max_bins, sample_size, seed)

    @classmethod
    def _build(
        cls, x: _Floats, finite: _Floats, max_bins: int, sample_size: int, seed: int
    ) -> NumericBaseline:
        m = finite.size
        vmin, vmax = float(finite.min()), float(finite.max())
        if m > sample_size:
            rng = np.random.default_rng(seed)
            s = np.sort(finite[rng.integers(0, m, size=sample_size)])
        else:
            s = np.sort(finite)
        new = np.empty(s.size, dtype=bool)
        new[0] = True
        np.not_equal(s[1:], s[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        distinct = s[starts]
        top = np.nextafter(vmax, np.inf)
        tail = [top] if np.isfinite(top) else []
        if distinct.size <= max_bins:
            point_bins = True
            raw = np.concatenate([[vmin], distinct, tail])
        else:
            point_bins = False
            mult = np.diff(np.append(starts, s.size))
            heavy = distinct[mult > s.size / max_bins]
            pos = (np.arange(1, max_bins) * s.size) // max_bins
            raw = np.concatenate([[vmin], s[pos], heavy, np.nextafter(heavy, np.inf), tail])
        edges = np.unique(raw[(raw >= vmin) & (raw <= top)])
        base = cls(
            edges=tuple(float(e) for e in edges),
            reference=NumericHistogram(counts=()),
            point_bins=point_bins,
        )
        hist, sums = base._histogram(x, with_sums=True)
        mid = hist.array[2:-2]
        with np.errstate(divide="ignore", invalid="ignore"):
            centers = np.where(mid > 0, sums[1:-1] / mid, edges[:-1] / 2 + edges[1:] / 2)
        # rounding may put a mean a hair outside its bin
        centers = np.clip(centers, edges[:-1], edges[1:])
        big = max(abs(vmin), abs(vmax))  # scaled so that squares cannot overflow
        unit = finite / big if big > 1e100 else finite
        mean = float(unit.mean()) * (big if big > 1e100 else 1.0)
        std = float(unit.std()) * (big if big > 1e100 else 1.0)
        if m <= sample_size:
            qs = tuple(float(q) for q in np.quantile(s, QUANTILE_LEVELS))
        else:
            qs = _histogram_quantiles(edges, hist.array[1:-1], QUANTILE_LEVELS)
        return cls(
            edges=base.edges,
            reference=hist,
            point_bins=point_bins,
            centers=tuple(float(c) for c in centers),
            minimum=vmin,
            maximum=vmax,
            mean=mean,
            std=std,
            quantiles=qs,
            # tails only for continuous data (mostly distinct values)
            tails=(*_tail_fit(vmin - s[::-1]), *_tail_fit(s - vmax))
            if 2 * distinct.size > s.size
            else (0.0, 0.0, 0.0, 0.0),
        )

    def _edges_array(self) -> _Floats:
        arr = self._cache.get("edges")
        if arr is None:
            arr = self._cache["edges"] = np.asarray(self.edges, dtype=np.float64)
        return arr

    def _index(self, x: _Floats) -> npt.NDArray[np.intp]:
        """Number of edges <= x, for finite x (``np.searchsorted(edges, x, 'right')``)."""
        ix = self._cache.get("index")
        if ix is None:
            ix = self._cache["index"] = EdgeIndex(self._edges_array())
        return ix.index(x)

    def bin(self, values: npt.ArrayLike) -> NumericHistogram:
        """Count raw values into this baseline's bins.

        Examples
        --------
        >>> b = NumericBaseline.from_values([1.0, 2.0, 3.0])
        >>> b.bin([0.5, 1.0, 2.5, 3.0, 9.0, float("-inf"), None]).counts
        (1, 1, 1, 1, 1, 1, 0)
        """
        return self._histogram(_as_float_array(values, "values"), with_sums=False)[0]

    def _histogram(self, x: _Floats, *, with_sums: bool) -> tuple[NumericHistogram, _Floats]:
        """Histogram of x, plus the per-bin sums of finite values (bins 1..k+1) if asked."""
        nan = np.isnan(x)
        n_missing = int(nan.sum())
        if n_missing:
            x = x[~nan]
        n_neg = n_pos = 0
        if not np.isfinite(x).all():
            n_neg, n_pos = int(np.sum(x == -np.inf)), int(np.sum(x == np.inf))
            x = x[np.isfinite(x)]
        k = len(self.edges)
        if k == 0:
            hist = NumericHistogram(counts=(n_neg, int(x.size), n_pos), n_missing=n_missing)
            return hist, np.zeros(1)
        idx = self._index(x)
        mid = np.bincount(idx, minlength=k + 1)
        with np.errstate(over="ignore"):
            sums = (
                np.bincount(idx, weights=x, minlength=k + 1).astype(np.float64)
                if with_sums
                else np.zeros(0)
            )
        with np.errstate(over="ignore"):  # sums of values near the float limits
            low = float(x[x < self.edges[0]].sum())
            high = float(x[x >= self.edges[-1]].sum())
        hist = NumericHistogram(
            counts=(n_neg, *(int(c) for c in mid), n_pos),
            n_missing=n_missing,
            low_sum=low,
            high_sum=high,
        )
        return hist, sums

    def coarse_groups(self, bins: int = 10) -> npt.NDArray[np.intp]:
        """Group index of every fine bin: ``bins`` adjacent groups of ~equal reference mass.

        Outer and infinite bins join the first / last group; a heavy value may
        make groups fewer.

        Examples
        --------
        >>> b = NumericBaseline.from_values(range(100))
        >>> b.coarse_groups(4).tolist().count(0), b.coarsen(b.reference.counts, 4).tolist()
        (27, [25, 25, 25, 25])
        """
        key = f"groups{bins}"
        if key not in self._cache:
            c = self.reference.array.astype(np.float64)
            total = c.sum()
            if total == 0:
                g = np.zeros(c.size, dtype=np.intp)
            else:
                mid = (np.cumsum(c) - c / 2) / total
                g = np.clip((mid * bins).astype(np.intp), 0, bins - 1)
                g = np.unique(g, return_inverse=True)[1].astype(np.intp)
            self._cache[key] = g
        return self._cache[key]  # type: ignore[no-any-return]

    def coarsen(self, counts: npt.ArrayLike, bins: int = 10) -> _Counts:
        """Add fine-bin counts into the :meth:`coarse_groups` (exact, counts are additive)."""
        g = self.coarse_groups(bins)
        arr = np.asarray(counts)
        if arr.shape[-1] != g.size:
            raise StatisticsError(
                expected("count vector", "counts", f"have {g.size} bins", arr.shape[-1])
            )
        starts = np.flatnonzero(np.diff(g, prepend=-1))
        return np.add.reduceat(arr, starts, axis=-1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": "numeric",
            "edges": list(self.edges),
            "reference": self.reference.to_dict(),
            "point_bins": self.point_bins,
            "centers": list(self.centers),
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "std": self.std,
            "quantiles": None if self.quantiles is None else list(self.quantiles),
            "tails": list(self.tails),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericBaseline:
        """Inverse of :meth:`to_dict`."""
        if data.get("kind") != "numeric":
            raise StatisticsError(expected("field", "kind", "be 'numeric'", data.get("kind")))
        edges = tuple(float(e) for e in data["edges"])
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise StatisticsError(expected("field", "edges", "be strictly increasing", edges[:5]))
        ref = NumericHistogram.from_dict(data["reference"])
        if len(ref.counts) != len(edges) + 3:
            raise StatisticsError(
                expected("field", "reference", f"have {len(edges) + 3} bins", len(ref.counts))
            )

        def opt(name: str) -> float | None:
            v = data.get(name)
            return None if v is None else float(v)

        qs = data.get("quantiles")
        centers = tuple(float(c) for c in data.get("centers", ()))
        if edges and len(centers) != len(edges) - 1:
            raise StatisticsError(
                expected("field", "centers", f"have {len(edges) - 1} values", len(centers))
            )
        return cls(
            edges=edges,
            reference=ref,
            point_bins=bool(data.get("point_bins", False)),
            centers=centers,
            minimum=opt("minimum"),
            maximum=opt("maximum"),
            mean=opt("mean"),
            std=opt("std"),
            quantiles=None if qs is None else tuple(float(q) for q in qs),
            tails=_four(data.get("tails", (0.0, 0.0, 0.0, 0.0))),
        )


def _four(values: Iterable[float]) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in values)
    return a, b, c, d


def _tail_fit(ahead: _Floats) -> tuple[float, float]:
    """Generalized Pareto (shape, scale) of the values beyond the extreme.

    ``ahead`` are sorted ascending values minus the extreme (all <= 0, the
    extreme at 0). The top 5% (10 to 10,000 values) above the threshold ``u``
    are fitted by probability-weighted moments (valid for shape < 1), shape
    clipped to [0, 0.6]; by the GPD threshold stability, excesses beyond the
    extreme then have the same shape and scale ``s + shape * (0 - u)``.
    """
    m = int(min(max(ahead.size // 20, 20), 10_000))
    if ahead.size < m + 1:
        return 0.0, 0.0
    u = float(ahead[-m - 1])
    y = ahead[-m:] - u
    a0 = float(y.mean())
    a1 = float(np.mean((1.0 - (np.arange(1, m + 1) - 0.35) / m) * y))
    if a0 <= 0 or a0 - 2 * a1 <= 0:
        return 0.0, 0.0
    shape = min(max(2.0 - a0 / (a0 - 2 * a1), 0.0), 0.6)
    scale = a0 * (1.0 - shape)  # mean excess a0 = scale / (1 - shape)
    return shape, scale + shape * (0.0 - u)


def _histogram_quantiles(
    edges: _Floats, counts: _Counts, levels: tuple[float, ...]
) -> tuple[float, ...]:
    """Quantiles interpolated linearly within fine bins (finite bins only)."""
    cum = np.cumsum(counts, dtype=np.float64)
    total = cum[-1]
    out = []
    for q in levels:
        target = q * total
        i = int(np.searchsorted(cum, target, side="left"))  # bin holding the target rank
        i = min(max(i, 1), len(edges) - 1)  # interior bins [e_{i-1}, e_i)
        before = cum[i - 1]
        inside = counts[i]
        frac = 0.0 if inside == 0 else min(max((target - before) / inside, 0.0), 1.0)
        out.append(float(edges[i - 1] + frac * (edges[i] - edges[i - 1])))
    return tuple(out)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class CategoryCounts:
    """Counts of one window aligned to :attr:`CategoricalBaseline.labels` (mergeable by ``+``).

    Examples
    --------
    >>> b = CategoricalBaseline.from_values(["a", "b", "a"])
    >>> (b.count(["a", "z"]) + b.count([None])).counts
    (1, 0, 0, 1)
    """

    counts: tuple[int, ...]
    n_missing: int = 0

    @property
    def n(self) -> int:
        """Number of non-missing values."""
        return sum(self.counts)

    @cached_property
    def array(self) -> _Counts:
        """The counts as an int64 array."""
        return np.asarray(self.counts, dtype=np.int64)

    def __add__(self, other: CategoryCounts) -> CategoryCounts:
        if len(other.counts) != len(self.counts):
            raise StatisticsError(
                expected("counts", "other", f"have {len(self.counts)} entries", len(other.counts))
            )
        return CategoryCounts(
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            n_missing=self.n_missing + other.n_missing,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"counts": list(self.counts), "n_missing": self.n_missing}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryCounts:
        """Inverse of :meth:`to_dict`."""
        return cls(
            counts=_check_counts(data["counts"], "counts"),
            n_missing=int(data.get("n_missing", 0)),
        )


@dataclass(frozen=True)
class CategoricalBaseline:
    """Category set of a categorical reference column (values compared as ``str``).

    Examples
    --------
    >>> b = CategoricalBaseline.from_values(["x", "y", "y", "z"], top_k=2)
    >>> b.labels, b.reference.counts, b.truncated
    (('y', 'x', '__other__', '__unseen__'), (2, 1, 1, 0), True)
    >>> CategoricalBaseline.from_dict(b.to_dict()) == b
    True
    """

    categories: tuple[str, ...]
    reference: CategoryCounts
    _cache: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Names of the count positions: categories, ``__other__``, ``__unseen__``."""
        return (*self.categories, OTHER, UNSEEN)

    @property
    def n(self) -> int:
        """Number of non-missing reference values."""
        return self.reference.n

    @property
    def n_missing(self) -> int:
        """Number of missing reference values."""
        return self.reference.n_missing

    @property
    def truncated(self) -> bool:
        """Whether reference categories beyond the top-K were aggregated into ``__other__``."""
        return self.reference.counts[-2] > 0

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], *, n_missing: int = 0, top_k: int = 1000
    ) -> CategoricalBaseline:
        """Build a baseline from category counts (e.g. a pushed-down group-by).

        Examples
        --------
        >>> CategoricalBaseline.from_counts({"b": 5, "a": 5, "c": 1}, top_k=2).categories
        ('a', 'b')
        """
        if top_k < 1:
            raise StatisticsError(expected("parameter", "top_k", "be at least 1", top_k))
        merged: Counter[str] = Counter()
        for key, c in counts.items():
            if c < 0:
                raise StatisticsError(expected("count", str(key), "be non-negative", c))
            if c:
                merged[str(key)] += int(c)
        ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = ranked[:top_k]
        other = sum(c for _, c in ranked[top_k:])
        return cls(
            categories=tuple(k for k, _ in keep),
            reference=CategoryCounts(
                counts=(*(c for _, c in keep), other, 0), n_missing=int(n_missing)
            ),
        )

    @classmethod
    def from_values(cls, values: Iterable[object], *, top_k: int = 1000) -> CategoricalBaseline:
        """Build a baseline from raw reference values (None and NaN are missing)."""
        counts, n_missing = _tally(values)
        return cls.from_counts(counts, n_missing=n_missing, top_k=top_k)

    def _positions(self) -> dict[str, int]:
        if not self._cache:
            self._cache.update({c: i for i, c in enumerate(self.categories)})
        return self._cache

    def count_mapping(self, counts: Mapping[str, int], *, n_missing: int = 0) -> CategoryCounts:
        """Align category counts (e.g. from a group-by) to :attr:`labels`.

        Examples
        --------
        >>> b = CategoricalBaseline.from_values(["a", "b"])
        >>> b.count_mapping({"b": 3, "new": 2}).counts
        (0, 3, 0, 2)
        """
        pos = self._positions()
        out = [0] * (len(self.categories) + 2)
        elsewhere = len(out) - (2 if self.truncated else 1)
        for key, c in counts.items():
            if c < 0:
                raise StatisticsError(expected("count", str(key), "be non-negative", c))
            out[pos.get(str(key), elsewhere)] += int(c)
        return CategoryCounts(counts=tuple(out), n_missing=int(n_missing))

    def count(self, values: Iterable[object]) -> CategoryCounts:
        """Count raw values into :attr:`labels` positions."""
        counts, n_missing = _tally(values)
        return self.count_mapping(counts, n_missing=n_missing)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": "categorical",
            "categories": list(self.categories),
            "reference": self.reference.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalBaseline:
        """Inverse of :meth:`to_dict`."""
        if data.get("kind") != "categorical":
            raise StatisticsError(expected("field", "kind", "be 'categorical'", data.get("kind")))
        cats = tuple(str(c) for c in data["categories"])
        ref = CategoryCounts.from_dict(data["reference"])
        if len(ref.counts) != len(cats) + 2:
            raise StatisticsError(
                expected("field", "reference", f"have {len(cats) + 2} counts", len(ref.counts))
            )
        return cls(categories=cats, reference=ref)


def _tally(values: Iterable[object]) -> tuple[Counter[str], int]:
    """Count values as strings; None and float NaN are missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":
        keys, cnt = np.unique(values.ravel(), return_counts=True)
        return Counter({str(k): int(c) for k, c in zip(keys, cnt, strict=True)}), 0
    if isinstance(values, (str, bytes)):
        raise StatisticsError(expected("input", "values", "be a sequence of values", values))
    raw: Counter[object] = Counter()
    n_missing = 0
    for v in values:
        if _is_missing(v):
            n_missing += 1
        else:
            raw[v] += 1
    out: Counter[str] = Counter()
    for key, c in raw.items():
        if isinstance(key, np.floating) and np.isnan(key):
            n_missing += c
        else:
            out[str(key)] += c
    return out, n_missing
