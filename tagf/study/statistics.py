"""How sure a comparison is: intervals over runs, paired bootstrap over videos, Holm's correction.

- `mean_interval`: mean of n runs with a 95 % Student-t interval (ddof = 1, scipy.stats.t); with n = 1 there is no
  interval, and we say so rather than print ± 0.
- `paired_bootstrap`: the mean per-video difference between two models scored on the same videos, with a 95 %
  percentile interval from resampling videos (scipy.stats.bootstrap, paired) and a two-sided bootstrap p-value.
- `holm`: Holm's step-down adjustment of p-values for the comparisons of one table (a few lines; not worth a
  dependency such as statsmodels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    ci95: tuple[float, float] | None  # None with fewer than two values

    def text(self) -> str:
        if self.ci95 is None:
            return f"{self.mean:.3f} (n={self.n})"
        return f"{self.mean:.3f} [{self.ci95[0]:.3f}, {self.ci95[1]:.3f}] (n={self.n})"

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "ci95": None if self.ci95 is None else list(self.ci95)}


def mean_interval(values) -> Interval:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("mean_interval: no values")
    mean = float(values.mean())
    if values.size < 2:
        return Interval(1, mean, None)
    sem = float(values.std(ddof=1) / np.sqrt(values.size))
    if sem == 0:
        return Interval(int(values.size), mean, (mean, mean))
    low, high = stats.t.interval(0.95, values.size - 1, loc=mean, scale=sem)
    return Interval(int(values.size), mean, (float(low), float(high)))


@dataclass(frozen=True)
class Comparison:
    n_videos: int
    delta: float  # mean over videos of (model − reference)
    ci95: tuple[float, float] | None
    p: float | None

    def as_dict(self) -> dict:
        return {
            "n_videos": self.n_videos,
            "delta": self.delta,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "p": self.p,
        }


def paired_bootstrap(model, reference, resamples: int = 9999, seed: int = 0) -> Comparison:
    """`model`, `reference`: per-video scores, aligned (the same videos in the same order)."""
    a, b = np.asarray(model, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_bootstrap: per-video scores of shape {a.shape} and {b.shape}")
    diff = a - b
    if diff.size < 2:
        return Comparison(int(diff.size), float(diff.mean()), None, None)
    rng = np.random.default_rng(seed)
    result = stats.bootstrap(
        (diff,), np.mean, n_resamples=resamples, confidence_level=0.95, method="percentile", random_state=rng
    )
    boot = result.bootstrap_distribution
    # Two-sided: how often a resampled mean lands on the other side of 0 than the observed one, doubled.
    p = min(1.0, 2 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
    ci = result.confidence_interval
    return Comparison(int(diff.size), float(diff.mean()), (float(ci.low), float(ci.high)), p)


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values, in the given order."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (p.size - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()
