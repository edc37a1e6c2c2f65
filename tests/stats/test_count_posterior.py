"""Simulated references drawn through the counts' posterior pool rare categories as often as
real references do; drawn from the plug-in counts they pool too many (the skewed-categories
false alarms of the thresholds)."""

from __future__ import annotations

import numpy as np

from mlwarden.stats.count_posterior import CountPosterior


def test_simulated_references_keep_as_many_categories_as_real_ones() -> None:
    rng = np.random.default_rng(9)
    p = 1.0 / np.arange(1, 501)
    p /= p.sum()
    real = rng.multinomial(20_000, p, size=400)
    kept_real = float((real >= 5).sum(axis=1).mean())  # ~468
    counts = real[0]
    plug_in = rng.poisson(np.broadcast_to(counts, (400, counts.size)))
    lam = CountPosterior.fit(counts, max_count=20).draw(counts, 400, rng)
    posterior = rng.poisson(lam)
    assert abs(float((posterior >= 5).sum(axis=1).mean()) - kept_real) < 6
    assert float((plug_in >= 5).sum(axis=1).mean()) < kept_real - 12


def test_posterior_means_shrink_towards_the_bulk() -> None:
    rng = np.random.default_rng(10)
    lam = rng.gamma(4.0, 2.0, 2000)
    counts = rng.poisson(lam)
    post = CountPosterior.fit(counts, max_count=20)
    for r in (1, 3, 15):
        mean = float(post.posterior(r) @ post.grid)
        truth = float(lam[counts == r].mean())
        assert abs(mean - truth) < 0.15 * truth + 0.3, (r, mean, truth)
