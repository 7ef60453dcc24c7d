"""Power and planning: the variance components of a pilot's comparisons, the smallest difference a design detects,
the design a target difference needs, and the simulation that shows the tests hold at our sample sizes.

Components of a per-video difference d[c, s, v] = Δ + a_c + b_cs + g_cv + e_csv (corpus, training seed, video,
residual), by the method of moments from each comparison's seeds × videos layouts (Searle et al., ch. 4), truncated
at 0 and averaged over the comparisons with the reference. One training seed per corpus cannot separate the seed
from the corpus component, nor the video from the residual: the planner then counts them together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from tagf.study.statistics import MIN_CORPORA, from_layouts

ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Components:
    """Variances of the per-video difference at each level."""

    corpus: float
    seed: float
    video: float
    residual: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


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
        corpus = 0.0
        if n > 1:
            s, v = layouts[0].shape
            within = seed / s + video / v + residual / (s * v)
            corpus = max(0.0, float(np.var([x.mean() for x in layouts], ddof=1)) - within)
        found.append((corpus, seed, video, residual))
    return Components(*(float(np.mean(column)) for column in zip(*found)))


def design_se(comp: Components, corpora: int, seeds: int, videos: int) -> tuple[float, float] | None:
    """(expected SE, degrees of freedom) of a difference at `corpora` × `seeds` × `videos` (per corpus), as
    tagf.study.statistics estimates it; None where that design cannot estimate it."""
    if corpora >= MIN_CORPORA:
        variance = (
            comp.corpus + comp.seed / seeds + comp.video / videos + comp.residual / (seeds * videos)
        ) / corpora
        return float(np.sqrt(variance)), float(corpora - 1)
    if seeds < 2 or videos < 2:
        return None
    variance = (comp.seed / seeds + comp.video / videos + 2 * comp.residual / (seeds * videos)) / corpora
    return float(np.sqrt(variance)), float(min(corpora * (seeds - 1), corpora * (videos - 1)))


def detectable(se: float, df: float, comparisons: int = 1) -> float:
    """The smallest true difference found with 80 % power by a two-sided test at α/comparisons (Holm's first step)."""
    return float((stats.t.ppf(1 - ALPHA / (2 * comparisons), df) + stats.t.ppf(POWER, df)) * se)


def design_for(
    comp: Components, target: float, seeds: int, videos: int, comparisons: int, most: int = 200
) -> int | None:
    """The fewest corpora (each of `seeds` × `videos`) that detect `target` with 80 % power; None within `most`."""
    for corpora in range(1, most + 1):
        found = design_se(comp, corpora, seeds, videos)
        if found is not None and detectable(*found, comparisons) <= target:
            return corpora
    return None


def simulate(
    comp: Components, corpora: int, seeds: int, videos: int, delta: float, reps: int, seed: int = 0
) -> dict[str, float | int]:
    """Data with these components and a true difference `delta`, analysed as a study is: the share of p < α
    (rejection), of 95 % intervals holding `delta` (coverage), over the repetitions the design can test. With fewer
    than MIN_CORPORA corpora the analysis is conditional on them, so the simulated corpus effects are centred."""
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
        rejected += found.p < ALPHA
        covered += found.ci95[0] <= delta <= found.ci95[1]
    return {
        "corpora": corpora,
        "seeds": seeds,
        "videos_per_corpus": videos,
        "delta": delta,
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


def plan_from_pilot(pilot: str, ablate, corpus_seeds: list[int], target: float) -> str:
    """What `tagf ablate --plan --pilot` says: the pilot's variance components on the primary endpoint, the smallest
    difference the planned design detects, and how many corpora the target difference needs."""
    from tagf.study.cells import lag_bounds, read_cells

    frame, meta = read_cells(pilot)
    lag_bins = sorted({s for s in frame["subset"] if lag_bounds(s)}, key=lambda s: lag_bounds(s)[0])
    layouts = comparison_layouts(frame, meta, ablate.primary, ablate.reference, lag_bins)
    if not layouts:
        return f"{pilot}: no comparison with {ablate.reference} on {ablate.primary} to plan from"
    comp = components(layouts)
    videos = int(round(np.mean([x.shape[1] for x in layouts[0]])))
    family = max(1, len([v for v in ablate.variants if v != ablate.reference and v not in ablate.controls]))
    corpora, seeds = len(corpus_seeds), len(ablate.seeds)
    here = design_se(comp, corpora, seeds, videos)
    lines = [
        f"pilot {pilot}: variance components of the difference on {ablate.primary} (CCC²): "
        + ", ".join(f"{k} {v:.2e}" for k, v in comp.as_dict().items()),
        f"planned: {corpora} corpora × {seeds} training seeds × {videos} test videos per corpus, Holm over {family}: "
        + (
            "the design cannot test (one seed and fewer than 5 corpora)"
            if here is None
            else f"smallest difference found with 80 % power ≈ {detectable(*here, family):.3f} CCC"
        ),
    ]
    needed = design_for(comp, target, seeds, videos, family)
    lines.append(
        f"to detect {target:g}: {needed} corpora of {seeds} seeds × {videos} videos"
        if needed
        else f"to detect {target:g}: more than 200 corpora of {seeds} seeds × {videos} videos"
    )
    return "\n".join(lines)
