"""Counting identical rows by hash equals np.unique's counts, collisions included."""

from __future__ import annotations

import numpy as np
import pytest

from mlwarden.stats import probing


@pytest.mark.parametrize(("n", "d", "scale"), [(2, 1, 1.0), (1000, 3, 0.5), (20_000, 30, 10.0)])
def test_row_counts_are_np_uniques(n: int, d: int, scale: float) -> None:
    rng = np.random.default_rng(n)
    cells = np.floor(rng.normal(size=(n, d)) * scale)
    cells[rng.random(cells.shape) < 0.05] = -1e300  # a missing value, as collision_rate fills it
    cells[: n // 3] = cells[n // 3 : 2 * (n // 3)]  # repeated rows
    cells[0] = -0.0 * np.abs(cells[0])  # -0.0 and 0.0 are one value, as in np.unique
    _, want = np.unique(cells, axis=0, return_counts=True)
    assert sorted(probing._row_counts(cells).tolist()) == sorted(want.tolist())


def test_rows_sharing_a_hash_are_still_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row gets the same hash: the check against each group's first row finds rows that
    differ and the counts come from np.unique."""
    monkeypatch.setattr(probing, "_MIX", (np.uint64(0), np.uint64(0), np.uint64(0)))
    cells = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [1.0, 5.0]])
    assert sorted(probing._row_counts(cells).tolist()) == [1, 1, 2]
    assert probing.collision_rate(cells) == pytest.approx((1 + 3) / 6)
