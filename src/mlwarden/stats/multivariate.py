"""Multivariate drift: a domain classifier and PCA reconstruction error.

Both take two numeric matrices (rows = events, columns = features; NaN is
missing; categorical features must be encoded by the caller) and subsample to
at most ``max_rows`` rows per side (seeded) to keep the cost modest.

**Domain classifier.** A classifier learns to tell reference rows (label 0)
from current rows (label 1); its cross-validated ROC AUC is 0.5 when the two
are exchangeable. The AUC is the mean over stratified folds of the held-out
AUC. Null band: under no drift the held-out scores are independent of the
held-out labels, so each fold's AUC is a Mann-Whitney statistic with variance
``(n1 + n2 + 1) / (12 n1 n2)`` (n1, n2 in the fold) and the fold mean has
about that variance for the full sizes. Threshold = ``0.5 + z(1-alpha) sd``,
at least ``min_auc`` (0.55 by default: a classifier barely better than a coin
is no practical drift). Ties in the scores only shrink the variance, so the
band is conservative. Per-feature contributions: permutation importance
(mean drop of held-out AUC when the feature is shuffled) on the first fold.

**PCA reconstruction error.** Standardise with the reference's mean and std,
fit PCA keeping ``variance`` of the variance on half of the reference, and
measure each row's mean squared reconstruction residual. The other half of
the reference gives the no-drift error distribution (out of sample, like the
current rows, so no optimistic bias). The current mean error is compared with
the reference mean by a normal band ``mu +- z(1-alpha/2) sd sqrt(1/n_cur +
1/n_ref_half)``, widened to at least ``min_relative_change`` of ``mu``.
Contributions: each feature's mean squared residual in the current rows minus
that in the reference rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import ConfigError, StatisticsError, expected
from mlwarden.stats.tails import norm_isf, norm_sf

__all__ = [
    "DomainClassifierResult",
    "Reconstruction",
    "ReconstructionResult",
    "domain_classifier_drift",
    "fit_reconstruction",
    "reconstruction_drift",
]

_Floats = npt.NDArray[np.float64]
_MODELS = ("hist_gradient_boosting", "logistic")


def _matrices(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    feature_names: Sequence[str] | None,
    max_rows: int,
    seed: int,
    min_rows: int,
) -> tuple[_Floats, _Floats, list[str]]:
    out = []
    rng = np.random.default_rng(seed)
    for name, data in (("reference", reference), ("current", current)):
        try:
            x = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise StatisticsError(
                expected("matrix", name, "be numeric", type(data).__name__)
            ) from exc
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise StatisticsError(expected("matrix", name, "be 2-D (rows x features)", x.shape))
        if x.shape[0] < min_rows:
            raise StatisticsError(
                expected("matrix", name, f"have at least {min_rows} rows", x.shape[0])
            )
        if np.isinf(x).any():
            raise StatisticsError(expected("matrix", name, "hold no infinite values", "inf"))
        if x.shape[0] > max_rows:
            x = x[np.sort(rng.choice(x.shape[0], max_rows, replace=False))]
        out.append(x)
    ref, cur = out
    if ref.shape[1] != cur.shape[1]:
        raise StatisticsError(
            expected(
                "matrix", "current", f"have {ref.shape[1]} columns like the reference", cur.shape[1]
            )
        )
    names = (
        list(feature_names) if feature_names is not None else [f"x{i}" for i in range(ref.shape[1])]
    )
    if len(names) != ref.shape[1]:
        raise StatisticsError(
            expected("argument", "feature_names", f"have {ref.shape[1]} names", len(names))
        )
    return ref, cur, names


@dataclass(frozen=True)
class DomainClassifierResult:
    """Domain-classifier drift of one window (drift when ``auc > threshold``)."""

    auc: float
    threshold: float
    null_std: float
    p_value: float
    drifted: bool
    contributions: Mapping[str, float]
    n_reference: int
    n_current: int


def domain_classifier_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    feature_names: Sequence[str] | None = None,
    model: str = "hist_gradient_boosting",
    folds: int = 5,
    alpha: float = 0.01,
    min_auc: float = 0.55,
    max_rows: int = 20_000,
    importance_repeats: int = 3,
    seed: int = 0,
) -> DomainClassifierResult:
    """Cross-validated AUC of a reference-vs-current classifier, with its null threshold.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(1000, 3))
    >>> cur = rng.normal(size=(1000, 3)) + [0.0, 0.0, 1.0]
    >>> res = domain_classifier_drift(ref, cur, model="logistic", feature_names=["a", "b", "c"])
    >>> res.drifted, round(res.auc, 2), max(res.contributions, key=res.contributions.get)
    (True, 0.78, 'c')
    """
    if model not in _MODELS:
        raise ConfigError(expected("parameter", "model", "be one of " + ", ".join(_MODELS), model))
    if not 0 < alpha < 0.5:
        raise ConfigError(expected("parameter", "alpha", "be in (0, 0.5)", alpha))
    if folds < 2:
        raise ConfigError(expected("parameter", "folds", "be at least 2", folds))
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    ref, cur, names = _matrices(reference, current, feature_names, max_rows, seed, folds)
    x = np.vstack([ref, cur])
    y = np.r_[np.zeros(ref.shape[0]), np.ones(cur.shape[0])]
    aucs = []
    contributions = dict.fromkeys(names, 0.0)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (train, test) in enumerate(splitter.split(x, y)):
        est = _classifier(model, seed)
        est.fit(x[train], y[train])
        aucs.append(float(roc_auc_score(y[test], est.predict_proba(x[test])[:, 1])))
        if i == 0 and importance_repeats > 0:
            imp = permutation_importance(
                est,
                x[test],
                y[test],
                scoring="roc_auc",
                n_repeats=importance_repeats,
                random_state=seed,
            )
            contributions = {n: float(v) for n, v in zip(names, imp.importances_mean, strict=True)}
    n1, n2 = ref.shape[0], cur.shape[0]
    sd = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    auc = float(np.mean(aucs))
    threshold = max(0.5 + norm_isf(alpha) * sd, min_auc)
    return DomainClassifierResult(
        auc=auc,
        threshold=threshold,
        null_std=sd,
        p_value=norm_sf((auc - 0.5) / sd),
        drifted=auc > threshold,
        contributions=contributions,
        n_reference=n1,
        n_current=n2,
    )


def _classifier(model: str, seed: int) -> Any:
    # scikit-learn is imported where a classifier is trained: it takes ~0.5 s to import
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=1000),
        )
    return HistGradientBoostingClassifier(max_iter=100, random_state=seed)


@dataclass(frozen=True)
class ReconstructionResult:
    """PCA reconstruction-error drift (drift when the current error leaves the band)."""

    reference_error: float
    current_error: float
    lower: float
    upper: float
    p_value: float
    drifted: bool
    n_components: int
    contributions: Mapping[str, float]
    n_reference: int
    n_current: int


@dataclass(frozen=True)
class Reconstruction:
    """PCA fitted on half of a reference (standardised with that half's mean and std), and the
    reconstruction residuals of the other half: the no-drift errors. It depends on the
    reference only, so a monitor fits it once for all its windows.

    The principal axes are the right singular vectors of the centred matrix (LAPACK's
    ``gesdd``, as scikit-learn's ``PCA(svd_solver="full")``), kept while the cumulative
    explained variance ratio is at most ``variance`` plus one; ``tests/stats/
    test_multivariate.py`` checks the residuals against scikit-learn's PCA.
    """

    mean: _Floats
    std: _Floats
    center: _Floats
    components: _Floats
    reference_residuals: _Floats

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def residuals(self, a: _Floats) -> _Floats:
        """Squared reconstruction residual of every value of ``a`` (rows x features)."""
        s = np.nan_to_num((a - self.mean) / self.std)  # missing: the mean
        c = self.components
        back = ((s @ c.T) - (self.center @ c.T)) @ c + self.center
        return (s - back) ** 2


def fit_reconstruction(
    reference: npt.ArrayLike, *, variance: float = 0.9, max_rows: int = 20_000, seed: int = 0
) -> Reconstruction:
    """The :class:`Reconstruction` that :func:`reconstruction_drift` uses for this reference
    (pass it as ``fitted`` to skip refitting it for every window)."""
    if not 0 < variance < 1:
        raise ConfigError(expected("parameter", "variance", "be in (0, 1)", variance))
    ref, _, _ = _matrices(reference, reference, None, max_rows, seed, 4)
    return _fit_reconstruction(ref, variance, seed)


def _fit_reconstruction(ref: _Floats, variance: float, seed: int) -> Reconstruction:
    if ref.shape[1] < 2:
        raise StatisticsError(expected("matrix", "reference", "have at least 2 features", 1))
    rng = np.random.default_rng(seed)
    order = rng.permutation(ref.shape[0])
    fit, cal = ref[order[: ref.shape[0] // 2]], ref[order[ref.shape[0] // 2 :]]
    seen = (~np.isnan(fit)).sum(axis=0)
    mean = np.nansum(fit, axis=0) / np.maximum(seen, 1)
    var = np.nansum((fit - mean) ** 2, axis=0) / np.maximum(seen, 1)
    std = np.where(var > 0, np.sqrt(var), 1.0)
    s = np.nan_to_num((fit - mean) / std)
    center = s.mean(axis=0)
    # the principal axes from the features x features Gram matrix: the same axes and variances
    # as an SVD of the rows, and ~1 ms where LAPACK's SVD of 10k rows took 8-330 ms by how
    # busy the BLAS threads were
    x = s - center
    eig, vec = np.linalg.eigh(x.T @ x)
    eig, vt = np.clip(eig[::-1], 0.0, None), vec[:, ::-1].T
    explained = eig / (s.shape[0] - 1)
    ratio = np.cumsum(explained / explained.sum(), dtype=np.float64)
    k = min(int(np.searchsorted(ratio, variance, side="right")) + 1, vt.shape[0])
    model = Reconstruction(mean, std, center, vt[:k], np.zeros((0, ref.shape[1])))
    return Reconstruction(mean, std, center, vt[:k], model.residuals(cal))


def reconstruction_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    feature_names: Sequence[str] | None = None,
    variance: float = 0.9,
    alpha: float = 0.01,
    min_relative_change: float = 0.05,
    max_rows: int = 20_000,
    seed: int = 0,
    fitted: Reconstruction | None = None,
) -> ReconstructionResult:
    """Mean PCA reconstruction error of the current rows against the reference's band.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(4000, 1))
    >>> ref = np.hstack([z, z + 0.1 * rng.normal(size=(4000, 1)), rng.normal(size=(4000, 1))])
    >>> zc = rng.normal(size=(2000, 1))  # the first two features decouple
    >>> cur = np.hstack([zc, rng.normal(size=(2000, 1)), rng.normal(size=(2000, 1))])
    >>> res = reconstruction_drift(ref, cur, feature_names=["a", "b", "c"], variance=0.6)
    >>> res.drifted, res.n_components, res.current_error > res.upper
    (True, 1, True)
    """
    if not 0 < variance < 1:
        raise ConfigError(expected("parameter", "variance", "be in (0, 1)", variance))
    if not 0 < alpha < 1:
        raise ConfigError(expected("parameter", "alpha", "be in (0, 1)", alpha))
    ref, cur, names = _matrices(reference, current, feature_names, max_rows, seed, 4)
    pca = fitted if fitted is not None else _fit_reconstruction(ref, variance, seed)
    res_ref, res_cur = pca.reference_residuals, pca.residuals(cur)
    err_ref, err_cur = res_ref.mean(axis=1), res_cur.mean(axis=1)
    mu, sd = float(err_ref.mean()), float(err_ref.std(ddof=1))
    m = float(err_cur.mean())
    se = sd * math.sqrt(1 / err_cur.size + 1 / err_ref.size)
    half = max(norm_isf(alpha / 2) * se, min_relative_change * mu)
    p = 1.0 if se == 0 else 2 * norm_sf(abs(m - mu) / se)
    excess = res_cur.mean(axis=0) - res_ref.mean(axis=0)
    return ReconstructionResult(
        reference_error=mu,
        current_error=m,
        lower=mu - half,
        upper=mu + half,
        p_value=min(p, 1.0),
        drifted=abs(m - mu) > half,
        n_components=pca.n_components,
        contributions={n: float(v) for n, v in zip(names, excess, strict=True)},
        n_reference=int(ref.shape[0]),
        n_current=int(cur.shape[0]),
    )
