"""Root-cause analysis: which features matter to the model, and where it does worst.

* :func:`feature_importance`: how much the model's output depends on each feature, from
  its reference data alone (a surrogate model and permutation importance);
  :func:`model_importance` reads it for a stored model, once per reference (incidents and
  pages use this one definition);
* :func:`find_slices`: the feature values, ranges and pairs of them where the model does
  significantly worse than elsewhere in a time range, computed in the engine.
"""

from __future__ import annotations

from mlwarden.analysis.importance import feature_importance, model_importance
from mlwarden.analysis.slices import METRICS, Condition, Slice, find_slices

__all__ = [
    "METRICS",
    "Condition",
    "Slice",
    "feature_importance",
    "find_slices",
    "model_importance",
]
