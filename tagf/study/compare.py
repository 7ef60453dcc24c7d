"""`tagf compare`: every table, verdict and figure of a study from its per-video scores alone (tagf.study.cells), so a
study can be re-analysed without retraining, with another margin, primary endpoint or reference. An ablation writes
its outputs through this same function.

    ablation.json     the summary: verdicts on the primary endpoint, every exploratory interval (tagf.study.summary)
    ablation.md       the same as tables
    gates.json        the gates' α by effective lag (tagf.study.gates)
    diagnostics.json  what lag_attention, reliability and tagf_xmodal decided per frame (tagf.study.diagnostics)
    power.json        the variance components, the smallest detectable difference, the simulated calibration
    robustness.json   curves for `dvc plots`: CCC by effective lag, under each shift, noise level and dropout
    robustness.csv    the same as CSV
    robustness.png, gates.png, diagnostics.png
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from tagf import storage
from tagf.errors import DataError, UsageError
from tagf.study.cells import endpoint, lag_bounds, read_cells
from tagf.study.diagnostics import diagnostics_summary
from tagf.study.figures import diagnostics_figure, gate_figure, robustness_figure
from tagf.study.gates import gate_summary
from tagf.study.planning import comparison_layouts, components, design_for, design_se, detectable, simulate
from tagf.study.statistics import MIN_CORPORA
from tagf.study.summary import summarize
from tagf.study.tables import markdown

# What `compare` writes, named once (the ablation adds its own: orchestration.ablation.OUTPUTS; dvc.yaml's and
# study/dvc.yaml's outputs are checked against both by tests/test_pipeline.py).
OUTPUTS = (
    "ablation.json",
    "ablation.md",
    "gates.json",
    "diagnostics.json",
    "power.json",
    "robustness.json",
    "robustness.csv",
    "robustness.png",
    "gates.png",
    "diagnostics.png",
)
CURVE_FIELDS = ("model", "perturbation", "level", "ccc_mean", "ccc_low", "ccc_high")
DESIGNS = [(c, v) for c in (1, 3, 10) for v in (4, 12, 36)]  # corpora × videos per corpus, as the calibration
CALIBRATION_REPS = 400  # per design; test_statistics_calibration.py runs 2000
CHECK_REPS = 2000  # the simulated power at the detectable difference: 80 % within about ±1.8 % (2 SE)


def curves(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows (model, perturbation, level, CCC and its interval) of every curve: `lag_s` (the bin's lower edge) and
    each perturbation's levels, the plain condition as level 0."""
    rows = []
    for row in summary["rows"]:
        points = [("lag_s", lag_bounds(name)[0], row["lag"][name]["value"]) for name in summary["lag_bins"]]
        for perturbation, levels in row["under"].items():
            if not perturbation.endswith("noise"):  # no shift, no dropout: level 0 is the clean condition
                points.append((perturbation, 0.0, row["clean"]["mean"]))
            points += [(perturbation, float(level), found) for level, found in levels.items()]
        for perturbation, level, found in points:
            if found is not None:
                low, high = found["ci95"] or (None, None)
                rows.append(
                    {
                        "model": row["label"],
                        "perturbation": perturbation,
                        "level": level,
                        "ccc_mean": found["mean"],
                        "ccc_low": low,
                        "ccc_high": high,
                    }
                )
    return rows


def power(frame, meta: dict, summary: dict[str, Any]) -> dict[str, Any]:
    """The primary endpoint's variance components (from the comparisons with the reference), what this design
    detects (and that detection rate simulated), the corpora a difference of 0.02 or 0.05 needs, and the tests'
    rejection and coverage when data with these components are simulated under the null and at a true difference
    of 0.05. A one-corpus study cannot estimate the corpus variance: planning and calibration then assume it is as
    large as the seed variance, and say so."""
    comparisons = comparison_layouts(
        frame, meta, summary["primary"], summary["reference"], summary["lag_bins"]
    )
    if not comparisons:
        return {"skipped": "no comparison with the reference"}
    comp = components(comparisons)
    planned = comp if comp.corpus is not None else comp.assuming(comp.seed)
    first = comparisons[0]
    corpora, seeds = len(first), min(x.shape[0] for x in first)
    videos = int(round(np.mean([x.shape[1] for x in first])))
    family = max(1, len(summary["family"]))
    here = (
        design_se(comp, corpora, seeds, videos) if corpora < MIN_CORPORA or comp.corpus is not None else None
    )
    found = None if here is None else detectable(here, family)
    return {
        "endpoint": summary["primary"],
        "components": comp.as_dict(),
        "corpus_variance_assumed": None
        if comp.corpus is not None
        else "unknown from one corpus: planning and calibration assume it equals the seed variance",
        "design": {"corpora": corpora, "seeds": seeds, "videos_per_corpus": videos, "family": family},
        "inference": "corpora" if corpora >= MIN_CORPORA else "conditional on these corpora",
        "detectable_difference": found,
        "detectable_power_simulated": None
        if found is None
        else simulate(planned, corpora, seeds, videos, found, CHECK_REPS, seed=99, comparisons=family),
        "corpora_needed": {
            f"{target:g}": design_for(planned, target, seeds, videos, family) for target in (0.02, 0.05)
        },
        "min_corpora_for_corpus_level": MIN_CORPORA,
        "calibration": calibration(planned, max(seeds, 2)),
    }


def calibration(comp, seeds: int, reps: int = CALIBRATION_REPS) -> list[dict[str, Any]]:
    """The tests' rejection and coverage on data simulated with `comp`, at 1/3/10 corpora × 4/12/36 videos, under
    the null and at a true difference of 0.05 (the power)."""
    return [
        simulate(comp, corpora, seeds, videos, delta, reps, seed=k)
        for k, (corpora, videos) in enumerate(DESIGNS)
        for delta in (0.0, 0.05)
    ]


def write_curves(rows: list[dict[str, Any]], json_url: str, csv_url: str) -> None:
    storage.write_text(json_url, json.dumps(rows, indent=1, allow_nan=False))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CURVE_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    storage.write_text(csv_url, text.getvalue())


def _check_choices(per_video: str, frame, meta: dict, reference: str | None, primary: str | None) -> None:
    """A reference or primary endpoint given by the user must be one of the study's: a UsageError naming the flag
    (from the file itself: a DataError)."""
    variants = sorted(set(frame["variant"]))
    if (reference or meta["reference"]) not in variants:
        error = UsageError if reference else DataError
        raise error(
            f"{'--reference ' if reference else per_video + ': reference '}{reference or meta['reference']!r} has no "
            f"runs; the study's variants: {', '.join(variants)}"
        )
    if primary is not None:
        lag_bins = sorted({s for s in frame["subset"] if lag_bounds(s)}, key=lambda s: lag_bounds(s)[0])
        try:
            endpoint(primary, lag_bins)
        except DataError as err:
            raise UsageError(f"--primary: {err}") from None


def compare(
    per_video: str,
    out_dir: str,
    reference: str | None = None,
    primary: str | None = None,
    margin: float | None = None,
) -> dict[str, Any]:
    """Write every output of a study from its per-video scores; returns the summary."""
    frame, meta = read_cells(per_video)
    _check_choices(per_video, frame, meta, reference, primary)
    reference, primary = reference or meta["reference"], primary or meta["primary"]
    margin = meta["margin"] if margin is None else margin
    summary = summarize(frame, meta, reference, primary, margin)
    gates = gate_summary(frame, summary["rows"], summary["lag_bins"], meta["min_frames"])
    decided = diagnostics_summary(frame, summary["rows"], summary["lag_bins"], meta["min_frames"])
    out = storage.join(out_dir, "")
    planned = power(frame, meta, summary)
    storage.write_text(f"{out}ablation.json", json.dumps(summary, indent=1, allow_nan=False))
    storage.write_text(f"{out}ablation.md", markdown(summary, gates, planned))
    storage.write_text(f"{out}gates.json", json.dumps(gates, indent=1, allow_nan=False))
    storage.write_text(f"{out}diagnostics.json", json.dumps(decided, indent=1, allow_nan=False))
    storage.write_text(f"{out}power.json", json.dumps(planned, indent=1, allow_nan=False))
    rows = curves(summary)
    write_curves(rows, f"{out}robustness.json", f"{out}robustness.csv")
    robustness_figure(rows, f"{out}robustness.png")
    gate_figure(gates, f"{out}gates.png")
    diagnostics_figure(decided, f"{out}diagnostics.png")
    return summary
