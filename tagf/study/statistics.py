"""How sure a comparison is, at the right unit of inference, with tests that hold at our sample sizes.

The runs of a study are nested: corpus → training seed → video, and within a corpus every seed's model scores the
same videos (seeds and videos are crossed). A per-video value is y[c, s, v] (a variant's CCC, or the difference
between a variant and the reference paired by corpus, seed and video); the estimate is its mean, each corpus
weighted equally. Its variance carries every level (Searle, Casella & McCulloch, *Variance Components*, ch. 4):

- **corpora as the unit** (at least `MIN_CORPORA` of them): each corpus's mean ȳ_c already holds its seed, video
  and residual variance, so Var(ȳ) is estimated by the variance of the corpus means over C, with C − 1 degrees of
  freedom: the "summary statistics" test, exact when the corpus means are normal.
- **fewer corpora**: the corpus variance cannot be estimated (with 3 corpora its variance has 2 degrees of freedom,
  and an exact sign-flip test over them cannot reach p < 0.25), so inference is **conditional on these corpora**
  (every verdict says so) and generalises over seeds and videos. In each corpus the seeds × videos layout gives
  mean squares MS_seed and MS_video (pooled over corpora); E[MS_seed + MS_video] / (S·V) = σ²_seed/S + σ²_video/V +
  2σ²_e/(S·V), one σ²_e/(S·V) above Var(ȳ_c), so the estimate errs on the wide side and is never negative. Its
  degrees of freedom are the smaller of the two mean squares' (df_seed, df_video), not Satterthwaite's
  (a + b)² / (a²/df_seed + b²/df_video): simulated with our variance components, Satterthwaite's rejects a true
  null 6.2 % at 1 corpus × 3 seeds × 36 videos (its df, estimated from the data, run high exactly where the
  variance estimate runs low), the smaller df at most 5 % (tests/test_statistics_calibration.py).
  One training seed per corpus leaves the seed variance inestimable: then there is no test, and the table says so.

The switch at `MIN_CORPORA` changes the estimand's scope (conditional → over corpora) and its degrees of freedom
(S·V-sized → C − 1): one more corpus can cost power there. The shipped designs stay away from it (one corpus for
`make run`, conditional; 10 and more for the study) and tagf.study.planning never proposes a design below it.

A t statistic against 0 gives a two-sided p and a 95 % interval; a design whose values do not vary at all (or whose
variance is not finite) is *not testable*, never p = 0 or p = 1. Intervals stay inside the metric's range: a CCC's
interval is built on atanh(CCC) by the delta method, a gate weight's on logit(α), a difference is intersected with
[−2, 2] (intersecting a confidence interval with the parameter space keeps its coverage).
tests/test_statistics_calibration.py simulates null data with our variance components at 1, 3 and 10 corpora and
4, 12 and 36 videos: the tests reject at most at their level and the intervals cover.

`equivalence_p` is the two one-sided tests (TOST) against a margin ±m; `holm` is statsmodels' Holm step-down.
We chose the design-based t over a mixed model (statsmodels' MixedLM) because REML with 2–3 seeds and crossed random
effects has no reliable small-sample degrees of freedom, and over a hierarchical bootstrap because resampling 3
seeds or corpora gives intervals far too narrow (the bootstrap variance of a mean of n is (n−1)/n of it, and its
percentiles are coarse).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

MIN_CORPORA = 5  # fewer: the corpus variance is not estimated and inference is conditional on the corpora
TINY = float(np.finfo(float).tiny)
NO_SPREAD = 1e-12  # a standard error below this (relative to the mean) is rounding, not variation
BOUNDS = {"ccc": (-1.0, 1.0), "difference": (-2.0, 2.0), "weight": (0.0, 1.0), "seconds": (0.0, float("inf"))}


@dataclass(frozen=True)
class Estimate:
    """The mean of per-video values over corpora, seeds and videos, with its uncertainty at the right level."""

    mean: float
    se: float | None  # None: the design cannot estimate a variance it needs (`note` says which)
    df: float | None
    ci95: tuple[float, float] | None
    p: float | None  # two-sided, against 0 (meaningful for differences)
    corpora: int
    seeds: int  # training seeds per corpus (the fewest)
    videos: int  # every corpus's videos together
    level: str  # the unit of inference
    note: str | None = None

    def as_dict(self, tested: bool = True) -> dict:
        """As JSON; an exploratory estimate (`tested` false) leaves its p out: only a declared test reports one."""
        found = {
            "mean": self.mean,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "se": self.se,
            "df": self.df,
            "p": self.p,
            "corpora": self.corpora,
            "seeds": self.seeds,
            "videos": self.videos,
            "level": self.level,
            "note": self.note,
        }
        return found if tested else {k: v for k, v in found.items() if k != "p"}


def _layouts(cells: Iterable[tuple[object, object, object, float]]) -> list[np.ndarray]:
    """Per corpus, the (seeds, videos) array of values; a video some seed lacks is left out of its corpus."""
    by_corpus: dict[object, dict[object, dict[object, float]]] = {}
    for corpus, seed, video, value in cells:
        by_corpus.setdefault(corpus, {}).setdefault(seed, {})[video] = float(value)
    layouts = []
    for seeds in by_corpus.values():
        videos = sorted(set.intersection(*(set(v) for v in seeds.values())), key=str)
        if videos:
            layouts.append(np.array([[row[v] for v in videos] for row in seeds.values()]))  # (S, V)
    return layouts


def _mean_squares(layouts: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Pooled (MS_seed, df_seed, MS_video, df_video) of the corpora's seeds × videos layouts."""
    seed_ss = sum(x.shape[1] * ((x.mean(1) - x.mean()) ** 2).sum() for x in layouts)
    video_ss = sum(x.shape[0] * ((x.mean(0) - x.mean()) ** 2).sum() for x in layouts)
    seed_df = sum(x.shape[0] - 1 for x in layouts)
    video_df = sum(x.shape[1] - 1 for x in layouts)
    return seed_ss / seed_df, seed_df, video_ss / video_df, video_df


def variance_of_mean(
    layouts: list[np.ndarray], min_corpora: int = MIN_CORPORA
) -> tuple[float, float, str] | str:
    """(Var(mean), degrees of freedom, the unit of inference), or why the design cannot estimate it."""
    corpora = len(layouts)
    if corpora >= min_corpora:
        if corpora < 2:
            return "a single value at the top level: its variance cannot be estimated"
        means = np.array([x.mean() for x in layouts])
        return float(means.var(ddof=1) / corpora), corpora - 1.0, "corpora"
    where = f"{corpora} corpus" if corpora == 1 else f"{corpora} corpora"
    if min(x.shape[0] for x in layouts) < 2:
        return f"one training seed per corpus and {where} (< {min_corpora}): the seed variance cannot be estimated"
    if min(x.shape[1] for x in layouts) < 2:
        return f"one video per corpus and {where}: the video variance cannot be estimated"
    ms_seed, df_seed, ms_video, df_video = _mean_squares(layouts)
    weight = sum(1.0 / x.size for x in layouts) / corpora**2
    a, b = ms_seed * weight, ms_video * weight
    if a + b == 0:
        return 0.0, float(df_seed + df_video), f"seeds × videos within {where}"
    df = min(
        df_seed, df_video
    )  # the smaller of the two (module docstring: Satterthwaite's is too liberal here)
    return (
        float(a + b),
        float(df),
        f"seeds × videos within {where} (corpus variance not estimated: < {min_corpora})",
    )


def _interval(mean: float, se: float, df: float, kind: str) -> tuple[float, float]:
    low_bound, high_bound = BOUNDS[kind]
    q = float(stats.t.ppf(0.975, df))
    if kind in ("difference", "seconds"):
        return max(low_bound, mean - q * se), min(high_bound, mean + q * se)
    # On the scale where the bounds are at infinity, by the delta method.
    if kind == "ccc":
        forward, back, slope = np.arctanh, np.tanh, 1 - mean**2
    else:
        forward, back, slope = (
            (lambda x: np.log(x / (1 - x))),
            (lambda z: 1 / (1 + np.exp(-z))),
            mean * (1 - mean),
        )
    if not low_bound < mean < high_bound:
        return max(low_bound, mean - q * se), min(high_bound, mean + q * se)
    centre, spread = forward(mean), q * se / slope
    return float(back(centre - spread)), float(back(centre + spread))


def estimate(
    cells: Iterable[tuple[object, object, object, float]],
    kind: str = "difference",
    min_corpora: int = MIN_CORPORA,
) -> Estimate:
    """The estimate of per-video values `cells` ((corpus, seed, video, value) each); `kind` picks the metric's
    range for the interval: "difference" (of two CCCs), "ccc", "weight" (a gate's α or a share), "seconds" (an
    absolute error)."""
    return from_layouts(_layouts(cells), kind, min_corpora)


def from_layouts(
    layouts: list[np.ndarray], kind: str = "difference", min_corpora: int = MIN_CORPORA
) -> Estimate:
    """`estimate` of values already laid out per corpus as (seeds, videos) arrays."""
    if not layouts:
        raise ValueError("estimate: no per-video values")
    if not all(np.isfinite(x).all() for x in layouts):
        raise ValueError("estimate: a per-video value is not finite")
    mean = float(np.mean([x.mean() for x in layouts]))
    shape = {
        "corpora": len(layouts),
        "seeds": min(x.shape[0] for x in layouts),
        "videos": sum(x.shape[1] for x in layouts),
    }
    found = variance_of_mean(layouts, min_corpora)
    if isinstance(found, str):
        return Estimate(mean, None, None, None, None, **shape, level="none", note=found)
    variance, df, level = found
    se = float(np.sqrt(variance))
    if se <= NO_SPREAD * max(1.0, abs(mean)):  # rounding is all the spread there is
        note = "the values do not vary: no variance to test against"
        return Estimate(mean, None, None, None, None, **shape, level="none", note=note)
    p = max(TINY, float(2 * stats.t.sf(abs(mean) / se, df)))  # TINY: an underflow, never p = 0
    return Estimate(mean, se, df, _interval(mean, se, df, kind), p, **shape, level=level)


def equivalence_p(found: Estimate, margin: float) -> float | None:
    """TOST: the larger of the two one-sided p-values against −margin and +margin (None without a variance)."""
    if found.se is None:
        return None
    lower = stats.t.sf((found.mean + margin) / found.se, found.df)
    upper = stats.t.cdf((found.mean - margin) / found.se, found.df)
    return max(TINY, float(max(lower, upper)))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values of one family, in the given order."""
    if not pvalues:
        return []
    return [float(p) for p in multipletests(pvalues, method="holm")[1]]


def mean_interval(values, kind: str = "ccc") -> Estimate:
    """Runs treated as independent units (one corpus, each value its own run): for what has no per-video values."""
    return estimate([(i, 0, 0, v) for i, v in enumerate(values)], kind, min_corpora=1)
