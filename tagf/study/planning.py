"""Power and planning: the variance components of a pilot's comparisons, the smallest difference a design detects,
the design a target difference needs, and the simulation that shows the tests hold at our sample sizes.

Components of a per-video difference d[c, s, v] = Δ + a_c + b_cs + g_cv + e_csv (corpus, training seed, video,
residual), by the method of moments from each comparison's seeds × videos layouts (Searle et al., ch. 4), truncated
at 0 and averaged over the comparisons with the reference. One training seed per corpus cannot separate the seed
from the corpus component, nor the video from the residual: the planner then counts them together. One corpus
cannot estimate the corpus component at all: it is *unknown* (None), and a plan from such a pilot says what it
assumes for it.

The detectable difference is exact for the corpus-level test: the t statistic of C corpus means is noncentral t
with C − 1 degrees of freedom and noncentrality Δ/SE, so the Δ with 80 % power at two-sided α/K (Holm's first step
over a family of K, a lower bound on Holm's power) is solved from scipy's noncentral t, not from the normal
approximation (which promises 80 % where a 5-corpus design has about 74 %). tests/test_statistics_calibration.py
checks it by simulation at the committed study's design.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import integrate, optimize, special, stats

from tagf.study.statistics import MIN_CORPORA, from_layouts

ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Components:
    """Variances of the per-video difference at each level (corpus None: unknown, a one-corpus pilot)."""

    corpus: float | None
    seed: float
    video: float
    residual: float

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)

    def assuming(self, corpus: float) -> Components:
        """These components with the corpus variance set (for a pilot that could not estimate it)."""
        return Components(corpus, self.seed, self.video, self.residual)


def components(comparisons: list[list[np.ndarray]]) -> Components:
    """From each comparison's per-corpus (seeds, videos) layouts of differences."""
    found = []
    for layouts in comparisons:
        seed = video = residual = 0.0
        for x in layouts:
            s, v = x.shape
            grand = x.mean()
            rows, cols = x.mean(1, keepdims=True), x.mean(0, keepdims=True)
            if s > 1 and v > 1:
                ms_e = ((x - rows - cols + grand) ** 2).sum() / ((s - 1) * (v - 1))
                ms_seed = v * ((rows - grand) ** 2).sum() / (s - 1)
                ms_video = s * ((cols - grand) ** 2).sum() / (v - 1)
                residual += ms_e
                seed += max(0.0, (ms_seed - ms_e) / v)
                video += max(0.0, (ms_video - ms_e) / s)
            elif v > 1:  # one seed: the videos' variance holds video and residual together
                video += x.var(ddof=1)
        n = len(layouts)
        seed, video, residual = seed / n, video / n, residual / n
        corpus = None
        if n > 1:
            s, v = layouts[0].shape
            within = seed / s + video / v + residual / (s * v)
            corpus = max(0.0, float(np.var([x.mean() for x in layouts], ddof=1)) - within)
        found.append((corpus, seed, video, residual))
    corpus = None if any(c is None for c, *_ in found) else float(np.mean([c for c, *_ in found]))
    return Components(corpus, *(float(np.mean(column)) for column in list(zip(*found))[1:]))


@dataclass(frozen=True)
class DesignSE:
    """How precisely a design estimates a difference: the true standard error of its mean, the standard error its
    analysis expects to estimate (larger below MIN_CORPORA, where the variance estimate carries one residual
    term too many), and the estimate's degrees of freedom."""

    se: float
    estimated_se: float
    df: float


def design_se(comp: Components, corpora: int, seeds: int, videos: int) -> DesignSE | None:
    """The precision of a difference at `corpora` × `seeds` × `videos` (per corpus), as tagf.study.statistics
    estimates it; None where that design cannot estimate it."""
    within = comp.seed / seeds + comp.video / videos + comp.residual / (seeds * videos)
    if corpora >= MIN_CORPORA:
        if comp.corpus is None:
            raise ValueError(
                "the corpus variance is unknown (a one-corpus pilot): assume one (Components.assuming)"
            )
        se = float(np.sqrt((comp.corpus + within) / corpora))
        return DesignSE(se, se, float(corpora - 1)) if se > 0 else None  # no variance: nothing to plan from
    if seeds < 2 or videos < 2:
        return None
    # E[MS_seed]/(S·V) and E[MS_video]/(S·V) per corpus: each holds the residual once.
    a = comp.seed / seeds + comp.residual / (seeds * videos)
    b = comp.video / videos + comp.residual / (seeds * videos)
    df_a, df_b = corpora * (seeds - 1), corpora * (videos - 1)
    df = min(df_a, df_b)  # as tagf.study.statistics
    if within <= 0:
        return None
    return DesignSE(float(np.sqrt(within / corpora)), float(np.sqrt((a + b) / corpora)), float(df))


def power_at(difference: float, design: DesignSE, comparisons: int = 1) -> float:
    """The chance that the design's two-sided t test at α/comparisons rejects when the true difference is
    `difference`: the mean's normal tails, integrated over the chi-square of the variance estimate (a noncentral t
    where the estimate is unbiased; scipy's `nct` returns NaN for some of the shifts a plan needs)."""
    critical = stats.t.ppf(1 - ALPHA / (2 * comparisons), design.df)
    shift, inflation = difference / design.se, design.estimated_se / design.se

    half = design.df / 2
    log_norm = -special.gammaln(half) - half * np.log(2.0)

    def rejected(v: float) -> float:  # given the variance estimate's chi-square value v (scipy.special: fast)
        scale = critical * inflation * np.sqrt(v / design.df)
        density = np.exp(log_norm + (half - 1) * np.log(v) - v / 2) if v > 0 else 0.0
        return (special.ndtr(shift - scale) + special.ndtr(-scale - shift)) * density

    # Over the chi-square's bulk (quad on [0, ∞) misses its peak at large df).
    low, high = stats.chi2.ppf([1e-12, 1 - 1e-12], design.df)
    return float(integrate.quad(rejected, low, high, limit=200, points=[design.df])[0])


def detectable(design: DesignSE, comparisons: int = 1) -> float:
    """The smallest true difference found with 80 % power by the design's two-sided test at α/comparisons (Holm's
    first step)."""
    high = design.se
    while power_at(high, design, comparisons) < POWER:
        high *= 2
    return float(
        optimize.brentq(lambda d: power_at(d, design, comparisons) - POWER, 0.0, high, xtol=1e-9 * design.se)
    )


def design_for(
    comp: Components, target: float, seeds: int, videos: int, comparisons: int, most: int = 200
) -> int | None:
    """The fewest corpora (each of `seeds` × `videos`), at least MIN_CORPORA (a design that generalises over
    corpora), that detect `target` with 80 % power; None within `most`."""

    def enough(corpora: int) -> bool:
        return detectable(design_se(comp, corpora, seeds, videos), comparisons) <= target

    if design_se(comp, MIN_CORPORA, seeds, videos) is None:
        return None

    if not enough(most):
        return None
    low, high = MIN_CORPORA - 1, most  # more corpora never detect less: bisect for the fewest that do
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def simulate(
    comp: Components,
    corpora: int,
    seeds: int,
    videos: int,
    delta: float,
    reps: int,
    seed: int = 0,
    comparisons: int = 1,
) -> dict[str, float | int]:
    """Data with these components and a true difference `delta`, analysed as a study is: the share of p < α /
    `comparisons` (rejection; Holm's first step), of 95 % intervals holding `delta` (coverage), over the repetitions
    the design can test. With fewer than MIN_CORPORA corpora the analysis is conditional on them, so the simulated
    corpus effects are centred."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, np.sqrt(comp.corpus), (reps, corpora))
    if corpora < MIN_CORPORA:
        a -= a.mean(1, keepdims=True)
    d = (
        delta
        + a[:, :, None, None]
        + rng.normal(0, np.sqrt(comp.seed), (reps, corpora, seeds, 1))
        + rng.normal(0, np.sqrt(comp.video), (reps, corpora, 1, videos))
        + rng.normal(0, np.sqrt(comp.residual), (reps, corpora, seeds, videos))
    )
    tested = rejected = covered = 0
    for r in range(reps):
        found = from_layouts(list(d[r]))
        if found.p is None:
            continue
        tested += 1
        rejected += found.p < ALPHA / comparisons
        covered += found.ci95[0] <= delta <= found.ci95[1]
    return {
        "corpora": corpora,
        "seeds": seeds,
        "videos_per_corpus": videos,
        "delta": delta,
        "comparisons": comparisons,
        "repetitions": tested,
        "rejection": rejected / tested if tested else None,
        "coverage": covered / tested if tested else None,
    }


def comparison_layouts(
    frame, meta: dict, primary: str, reference: str, lag_bins: list[str]
) -> list[list[np.ndarray]]:
    """Each (condition, variant) comparison with the reference on the primary endpoint, controls left out, as
    per-corpus (seeds, videos) layouts of differences."""
    from tagf.study.statistics import _layouts
    from tagf.study.summary import Measures, _paired

    measure = Measures(frame, lag_bins, meta["min_frames"])(primary)
    found = []
    for (variant, augment, key), mine in measure.groupby(
        ["variant", "augment_shift_s", "key_mode"], sort=False
    ):
        if variant == reference or variant in meta.get("controls", []):
            continue
        theirs = measure[
            (measure["variant"] == reference)
            & (measure["augment_shift_s"] == augment)
            & (measure["key_mode"] == key)
        ]
        layouts = _layouts(_paired(mine, theirs))
        if layouts:
            found.append(layouts)
    return found


def plan_from_pilot(
    pilot: str, ablate, corpus_seeds: list[int], target: float, videos: int | None = None
) -> str:
    """What `tagf ablate --plan --pilot` says: the pilot's variance components on the primary endpoint, the smallest
    difference the planned design (`videos` test videos per corpus; None: the pilot's) detects, and how many corpora
    the target difference needs. A one-corpus pilot cannot know the corpus variance: the plan then says what it
    assumes, from 0 (a lower bound) to as large as the seed variance."""
    from tagf.study.cells import lag_bounds, read_cells

    frame, meta = read_cells(pilot)
    lag_bins = sorted({s for s in frame["subset"] if lag_bounds(s)}, key=lambda s: lag_bounds(s)[0])
    layouts = comparison_layouts(frame, meta, ablate.primary, ablate.reference, lag_bins)
    if not layouts:
        return f"{pilot}: no comparison with {ablate.reference} on {ablate.primary} to plan from"
    comp = components(layouts)
    videos = videos or int(round(np.mean([x.shape[1] for x in layouts[0]])))
    family = max(1, len([v for v in ablate.variants if v != ablate.reference and v not in ablate.controls]))
    corpora, seeds = len(corpus_seeds), len(ablate.seeds)
    lines = [
        f"pilot {pilot}: variance components of the difference on {ablate.primary} (CCC²): "
        + ", ".join(
            f"{k} {'unknown (one corpus)' if v is None else f'{v:.2e}'}" for k, v in comp.as_dict().items()
        )
    ]
    if comp.corpus is None:
        assumptions = [("if the corpus variance is 0 (a lower bound)", comp.assuming(0.0))]
        assumptions.append(("if it is as large as the seed variance", comp.assuming(comp.seed)))
    else:
        assumptions = [("", comp)]
    design = (
        f"{corpora} corpora × {seeds} training seeds × {videos} test videos per corpus, Holm over {family}"
    )
    for said, assumed in assumptions:
        here = (
            design_se(assumed, corpora, seeds, videos)
            if corpora < MIN_CORPORA or assumed.corpus is not None
            else None
        )
        lines.append(
            f"planned{' ' + said if said else ''}: {design}: "
            + (
                "the design cannot test (one seed and fewer than 5 corpora)"
                if here is None
                else f"smallest difference found with 80 % power ≈ {detectable(here, family):.3f} CCC"
            )
        )
        needed = design_for(assumed, target, seeds, videos, family)
        lines.append(
            f"to detect {target:g}{' ' + said if said else ''}: "
            + (f"{needed} corpora" if needed else "more than 200 corpora")
            + f" of {seeds} seeds × {videos} videos"
        )
    if corpora < MIN_CORPORA:
        lines.append(
            f"with fewer than {MIN_CORPORA} corpora the verdicts are conditional on these corpora: they do not "
            "generalise to another draw of the corpus"
        )
    return "\n".join(lines)
