"""The paired comparison of two runs against scipy on the same inputs, and the cases where a
test cannot be computed (a reason, never a NaN)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlwarden.evals.paired import compare_scores, mean_ci


@pytest.mark.parametrize("n", [8, 30, 80])  # exact Wilcoxon below 50 pairs, normal above
def test_numeric_scores_match_scipys_wilcoxon_and_paired_t(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(0.6, 0.1, n)
    b = a + rng.normal(0.03, 0.05, n)
    c = compare_scores(list(a), list(b), scale="numeric")
    assert c.p_value == pytest.approx(stats.wilcoxon(b, a).pvalue, rel=1e-12)
    assert c.statistic == pytest.approx(stats.wilcoxon(b, a).statistic)
    assert c.t_test_p == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-12)
    ci = stats.ttest_1samp(b - a, 0).confidence_interval(0.95)
    assert c.ci_diff == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert c.diff == pytest.approx(float(np.mean(b - a)))


def test_pass_fail_uses_mcnemars_exact_test_on_discordant_pairs() -> None:
    a = [1] * 20 + [0] * 10 + [1] * 3 + [0] * 7
    b = [1] * 20 + [1] * 10 + [0] * 3 + [0] * 7
    c = compare_scores(a, b, scale="pass_fail")
    assert (c.a_only, c.b_only, c.n) == (3, 10, 40)
    assert c.p_value == pytest.approx(stats.binomtest(10, 13, 0.5).pvalue, rel=1e-12)
    assert c.mean_b - c.mean_a == pytest.approx(7 / 40)


def test_tests_that_cannot_be_computed_say_why() -> None:
    same = compare_scores([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], scale="numeric")
    assert same.p_value is None and "same value" in same.reason
    agree = compare_scores([1, 0], [1, 0], scale="pass_fail")
    assert agree.p_value is None and "no item passed" in agree.reason
    one = compare_scores([1.0], [2.0], scale="numeric")
    assert one.p_value is None and one.ci_diff == (None, None)
    assert mean_ci([]) == (None, None, None)
