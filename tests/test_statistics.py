"""The study's estimates against independent implementations: statsmodels' two-way ANOVA for the mean squares of a
seeds × videos layout, scipy's one-sample t-test for the corpus-level test, statsmodels' TOST for equivalence and
Holm for the family; and the properties no hand example shows: no p is 0, intervals stay in the metric's range, a
design that cannot estimate a variance says so. (Calibration by simulation: test_statistics_calibration.py.)"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.weightstats import ttost_paired

from tagf.study.statistics import (
    MIN_CORPORA,
    TINY,
    _mean_squares,
    equivalence_p,
    estimate,
    holm,
    mean_interval,
)


def cells(values: np.ndarray) -> list[tuple]:
    """(corpus, seed, video, value) of a (corpora, seeds, videos) array."""
    return [(c, s, v, float(values[c, s, v])) for c, s, v in np.ndindex(values.shape)]


def test_mean_squares_are_statsmodels_two_way_anova():
    rng = np.random.default_rng(0)
    layout = rng.normal(size=(3, 7)) + rng.normal(size=(3, 1)) + rng.normal(size=(1, 7))  # seeds × videos
    frame = pd.DataFrame([{"seed": s, "video": v, "d": layout[s, v]} for s, v in np.ndindex(layout.shape)])
    table = anova_lm(smf.ols("d ~ C(seed) + C(video)", frame).fit())
    ms_seed, df_seed, ms_video, df_video = _mean_squares([layout])
    assert (df_seed, df_video) == (2, 6)
    assert ms_seed == pytest.approx(table.loc["C(seed)", "mean_sq"], rel=1e-10)
    assert ms_video == pytest.approx(table.loc["C(video)", "mean_sq"], rel=1e-10)


def test_with_enough_corpora_the_test_is_scipys_t_test_on_the_corpus_means():
    rng = np.random.default_rng(1)
    values = (
        0.03 + rng.normal(0, 0.05, (MIN_CORPORA + 2, 2, 4)) + rng.normal(0, 0.05, (MIN_CORPORA + 2, 1, 1))
    )
    found = estimate(cells(values))
    means = values.mean(axis=(1, 2))
    expected = stats.ttest_1samp(means, 0.0)
    assert found.level == "corpora" and found.df == len(means) - 1
    assert found.mean == pytest.approx(means.mean()) and found.p == pytest.approx(expected.pvalue, rel=1e-9)
    low, high = expected.confidence_interval(0.95)
    assert found.ci95 == pytest.approx((low, high), rel=1e-9)


def test_equivalence_is_statsmodels_tost():
    rng = np.random.default_rng(2)
    values = 0.004 + rng.normal(0, 0.01, (MIN_CORPORA + 3, 1, 3))
    found = estimate(cells(values))
    means = values.mean(axis=(1, 2))
    expected, _, _ = ttost_paired(means, np.zeros_like(means), -0.02, 0.02)
    assert equivalence_p(found, 0.02) == pytest.approx(expected, rel=1e-9)


def test_holm_is_statsmodels_step_down():
    # sorted 0.01, 0.03, 0.04 → ×3, ×2, ×1 = 0.03, 0.06, 0.04 → monotone: 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_with_few_corpora_the_seeds_and_videos_carry_the_interval():
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.05, (1, 3, 4)) + rng.normal(0, 0.1, (1, 3, 1))  # seed variance dominates
    found = estimate(cells(values))
    assert "seeds × videos within 1 corpus (corpus variance not estimated" in found.level
    frame = pd.DataFrame([{"seed": s, "video": v, "d": values[0, s, v]} for s, v in np.ndindex(3, 4)])
    table = anova_lm(smf.ols("d ~ C(seed) + C(video)", frame).fit())  # the mean squares, independently
    a, b = table.loc["C(seed)", "mean_sq"] / 12, table.loc["C(video)", "mean_sq"] / 12
    assert found.se == pytest.approx(np.sqrt(a + b))
    assert found.df == 2  # the smaller of the seeds' (2) and the videos' (3) degrees of freedom


def test_one_seed_and_few_corpora_cannot_be_tested():
    found = estimate(cells(np.random.default_rng(4).normal(size=(3, 1, 5))))
    assert found.p is None and found.ci95 is None and "the seed variance cannot be estimated" in found.note


def test_no_p_value_is_zero():
    values = 0.5 + np.random.default_rng(5).normal(0, 1e-9, (MIN_CORPORA, 1, 2))  # t in the millions
    found = estimate(cells(values))
    assert 0 < found.p <= 1e-12 and found.p >= TINY


@pytest.mark.parametrize("shape", [(MIN_CORPORA, 1, 2), (2, 3, 4)], ids=["corpora", "seeds x videos"])
@pytest.mark.parametrize("value", [0.3, 0.0])
def test_values_that_do_not_vary_are_not_testable(shape, value):
    found = estimate(cells(np.full(shape, value)))  # no spread at all: neither p = 1e-308 nor p = 1
    assert found.p is None and found.ci95 is None and "no variance to test against" in found.note
    assert equivalence_p(found, 0.02) is None


def test_a_value_that_is_not_finite_is_refused():
    values = np.zeros((MIN_CORPORA, 1, 2))
    values[1, 0, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        estimate(cells(values))


def test_intervals_stay_inside_the_metrics_range():
    # CCCs near 1 with a large spread: a t interval on the raw scale would pass 1.
    values = np.array([0.99, 0.97, 0.7, 0.98, 0.95]).reshape(5, 1, 1)
    raw = stats.ttest_1samp(values.ravel(), 0).confidence_interval(0.95)
    assert raw.high > 1
    low, high = estimate(cells(values), "ccc").ci95
    assert -1 < low < high < 1
    weights = np.array([0.01, 0.02, 0.3, 0.01, 0.015]).reshape(5, 1, 1)
    low, high = estimate(cells(weights), "weight").ci95
    assert 0 < low < high < 1
    differences = np.array([1.9, 1.99, 0.2, 1.95, 1.97]).reshape(5, 1, 1)
    assert estimate(cells(differences), "difference").ci95[1] == 2.0


def test_a_video_one_seed_lacks_is_left_out_of_its_corpus():
    values = [(0, 0, "a", 0.1), (0, 0, "b", 0.2), (0, 1, "a", 0.3)]
    found = estimate(values)
    assert found.videos == 1 and found.mean == pytest.approx(0.2)


def test_independent_runs_have_the_t_interval_of_their_values():
    found = mean_interval([0.1, 0.2, 0.3], kind="difference")
    half = 4.302653 * 0.1 / 3**0.5  # t(0.975, df=2) · sd / √n
    assert found.mean == pytest.approx(0.2) and found.ci95 == pytest.approx(
        (0.2 - half, 0.2 + half), abs=1e-6
    )
