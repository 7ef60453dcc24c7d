"""Intervals, paired bootstrap and Holm's correction against hand-computed small cases."""

import pytest

from tagf.study.statistics import holm, mean_interval, paired_bootstrap


def test_t_interval_of_three_runs():
    # mean 2, sd 1 (ddof 1), sem 1/√3, t(0.975, df=2) = 4.302653
    interval = mean_interval([1.0, 2.0, 3.0])
    half = 4.302653 / 3**0.5
    assert interval.n == 3 and interval.mean == 2.0
    assert interval.ci95 == pytest.approx((2 - half, 2 + half), abs=1e-5)
    assert interval.text() == "2.000 [-0.484, 4.484] (n=3)"


def test_one_run_has_no_interval():
    interval = mean_interval([0.7])
    assert interval.ci95 is None and interval.text() == "0.700 (n=1)"
    assert interval.as_dict() == {"n": 1, "mean": 0.7, "ci95": None}


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 → ×3, ×2, ×1 = 0.03, 0.06, 0.04 → monotone: 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_paired_bootstrap_all_better():
    result = paired_bootstrap([0.5, 0.6, 0.7, 0.8], [0.4, 0.45, 0.5, 0.55])
    assert result.delta == pytest.approx(0.175) and result.n_videos == 4
    assert 0.1 <= result.ci95[0] <= result.ci95[1] <= 0.25  # resampled means stay within the differences
    assert result.p == 0.0  # no resample can be ≤ 0


def test_paired_bootstrap_no_difference():
    # differences −1 and +1: resampled means −1, 0, 0, 1 each with probability 1/4 → P(≤0) = P(≥0) = 3/4 → p = 1
    result = paired_bootstrap([0.0, 2.0], [1.0, 1.0])
    assert result.delta == 0.0 and result.p == 1.0


def test_paired_bootstrap_needs_aligned_scores():
    with pytest.raises(ValueError, match="per-video scores of shape"):
        paired_bootstrap([0.1, 0.2], [0.1])
