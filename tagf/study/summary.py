"""The ablation's tables: per variant and condition (training augmentation, key mode), CCC, CCC within each frame
category and CCC drop (clean minus perturbed) at each level of each perturbation — audio shift, modality noise,
modality dropout — as means over runs (training seeds × corpus seeds) with a 95 % t interval, and the paired
per-video bootstrap against the reference variant in the same condition of ΔCCC, of ΔCCC per frame category and of
the difference in drop at each level, Holm-corrected across the table's comparisons of each measure
(tagf.study.statistics). Videos of different corpus seeds are different videos (run_ablation names them
apart).
One run gives `n=1` and no interval, never `± 0.000`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.errors import RunError
from tagf.score_names import MEAN, SCORES, TARGETS, ccc_key
from tagf.study.conditions import IDENTITY_AT_ZERO, SHIFT, drop_key
from tagf.study.frame_categories import CATEGORIES
from tagf.study.statistics import holm, mean_interval, paired_bootstrap

CONDITION = ("augment_shift_s", "key_mode")  # what else, besides the variant, makes a row of the table


def condition_of(trial: dict[str, Any]) -> tuple:
    return tuple(trial[key] for key in CONDITION)


def _label(variant: str, condition: tuple, several: list[str]) -> str:
    """The variant, and the condition's levels that vary in the table: `tagf aug ±1 s faithful`."""
    named = dict(zip(CONDITION, condition))
    parts = [variant]
    if "augment_shift_s" in several:
        parts.append(f"aug ±{named['augment_shift_s']:g} s")
    if "key_mode" in several:
        parts.append(named["key_mode"])
    return " ".join(parts)


def _perturbed(trial: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the clean row — audio shift 0, the plain report scores —, the rows that perturb: every other shift, every
    noise level, every dropout fraction above 0)."""
    rows = trial["robustness"]
    clean = next((r for r in rows if r["perturbation"] == SHIFT and r["level"] == 0), None)
    if clean is None or any("per_video" not in r for r in rows):
        raise RunError(
            f"ablation run {trial['variant']} seed {trial['seed']}: its robustness rows lack the clean (shift 0) row or "
            "per-video scores; rerun the ablation"
        )
    return clean, [r for r in rows if not (r["level"] == 0 and r["perturbation"] in IDENTITY_AT_ZERO)]


def _drops(trial: dict[str, Any]) -> dict[tuple[str, float], float]:
    """{(perturbation, level): clean CCC mean minus perturbed CCC mean}, for one run."""
    clean, perturbed = _perturbed(trial)
    return {(r["perturbation"], r["level"]): clean[MEAN] - r[MEAN] for r in perturbed}


def _video_drops(trial: dict[str, Any]) -> dict[tuple[str, float], dict[str, float | None]]:
    """{(perturbation, level): {video: its clean CCC mean minus its perturbed one}}, for one run; None where either
    has no score."""
    clean, perturbed = _perturbed(trial)
    before = {video: _video_mean(scores) for video, scores in clean["per_video"].items()}
    drops = {}
    for row in perturbed:
        after = {video: _video_mean(scores) for video, scores in row["per_video"].items()}
        drops[(row["perturbation"], row["level"])] = {
            video: None if before.get(video) is None or value is None else before[video] - value
            for video, value in after.items()
        }
    return drops


def _video_mean(row: dict[str, Any]) -> float | None:
    values = [row[ccc_key(t)] for t in TARGETS if row.get(ccc_key(t)) is not None]
    return float(np.mean(values)) if values else None


def per_video_means(per_run: list[dict[str, float | None]]) -> dict[str, float]:
    """{video: value averaged over the runs}, from one {video: value or None} per run; None is left out."""
    values: dict[str, list[float]] = {}
    for run in per_run:
        for video, value in run.items():
            if value is not None:
                values.setdefault(video, []).append(value)
    return {video: float(np.mean(v)) for video, v in values.items()}


def compare(own: dict[str, float], reference: dict[str, float]) -> dict[str, Any] | None:
    """The paired bootstrap over the videos both have a score for; None when there is none."""
    videos = sorted(set(own) & set(reference))
    if not videos:
        return None
    return paired_bootstrap([own[v] for v in videos], [reference[v] for v in videos]).as_dict()


def holm_family(comparisons: list[dict[str, Any]]) -> None:
    """Adds p_holm to each comparison that has a p, over those comparisons (one family)."""
    tested = [c for c in comparisons if c is not None and c.get("p") is not None]
    for comparison, adjusted in zip(tested, holm([c["p"] for c in tested])):
        comparison["p_holm"] = adjusted


def _overall_videos(trial: dict[str, Any]) -> dict[str, float | None]:
    return {video: _video_mean(row) for video, row in trial["per_video"].items()}


def _category_videos(trial: dict[str, Any], category: str) -> dict[str, float | None] | None:
    scored = (trial.get("by_category") or {}).get(category)
    return None if scored is None else {video: _video_mean(row) for video, row in scored["per_video"].items()}


def _paired(mine, theirs, per_video, reference: str, family: list) -> dict[str, Any] | None:
    """The paired comparison of `per_video(run)` ({video: value}) between two variants' runs, each video's value
    averaged over its runs; None when no video has both. It joins `family` (one Holm correction)."""
    own = per_video_means([per_video(t) for t in mine])
    compared = compare(own, per_video_means([per_video(t) for t in theirs]))
    if compared is None:
        return None
    found = {"reference": reference, **compared}
    family.append(found)
    return found


def _drop_cells(mine, theirs, reference: str, families: dict) -> dict[str, dict[str, Any]]:
    """{drop_<perturbation>: {level: interval over runs, with the paired comparison of the per-video drops}}."""
    cells: dict[str, dict[str, Any]] = {}
    drops = [_drops(t) for t in mine]
    for perturbation, level in drops[0]:
        cell = mean_interval([d[(perturbation, level)] for d in drops]).as_dict()
        cells.setdefault(f"drop_{perturbation}", {})[drop_key(perturbation, level)] = cell
        if theirs is not None:
            family = families.setdefault(f"drop {perturbation} {level:g}", [])
            found = _paired(mine, theirs, lambda t, k=(perturbation, level): _video_drops(t)[k], reference, family)
            if found is not None:
                cell["vs_reference"] = found
    return cells


def _category_cells(mine, theirs, reference: str, families: dict) -> dict[str, dict[str, Any]]:
    """{category: CCC interval over runs, with the paired comparison on that category's frames}; a category some
    run has no labelled frame of (or no masks) has no cell."""
    cells = {}
    for category in CATEGORIES:
        scored = [(t.get("by_category") or {}).get(category) for t in mine]
        if any(s is None for s in scored):
            continue  # no masks, or no labelled frame of this category: no number
        cell: dict[str, Any] = {MEAN: mean_interval([s[MEAN] for s in scored]).as_dict()}
        if theirs is not None and all(_category_videos(t, category) for t in theirs):
            family = families.setdefault(category, [])
            found = _paired(mine, theirs, lambda t, c=category: _category_videos(t, c), reference, family)
            if found is not None:
                cell["vs_reference"] = found
        cells[category] = cell
    return cells


def _curves(mine: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """The robustness rows of a row of the table, averaged over its runs."""
    curves = []
    for cell in mine[0]["robustness"]:
        key = (cell["perturbation"], cell["level"])
        same = [next(r for r in t["robustness"] if (r["perturbation"], r["level"]) == key) for t in mine]
        curves.append(
            {
                # what every run has in common (lags and frames: not across corpora); scores: their mean
                **{k: v for k, v in cell.items() if k != "per_video" and all(r.get(k) == v for r in same)},
                "model": label,
                **{k: float(np.mean([r[k] for r in same])) for k in SCORES},
            }
        )
    return curves


def summarize(
    trials: list[dict[str, Any]], variants: list[str], reference: str, tuning: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(table rows per condition and variant, robustness rows averaged over runs per row of the table)."""
    table, curves = [], []
    conditions = sorted({condition_of(t) for t in trials})
    several = [key for k, key in enumerate(CONDITION) if len({c[k] for c in conditions}) > 1]
    families: dict[str, list[dict[str, Any]]] = {}
    for condition in conditions:
        runs = {v: [t for t in trials if t["variant"] == v and condition_of(t) == condition] for v in variants}
        for variant in variants:
            mine, theirs = runs[variant], None if variant == reference else runs[reference]
            row: dict[str, Any] = {
                "variant": variant,
                **dict(zip(CONDITION, condition)),
                "label": _label(variant, condition, several),
                "tuning": tuning,
                "n": len(mine),
                "setup": mine[0]["setup"],
                "report_split": mine[0]["report_split"],
                **{key: mean_interval([t[f"report_{key}"] for t in mine]).as_dict() for key in SCORES},
            }
            if theirs is not None:
                row["vs_reference"] = _paired(mine, theirs, _overall_videos, reference, families.setdefault(MEAN, []))
            row |= _drop_cells(mine, theirs, reference, families)
            row["by_category"] = _category_cells(mine, theirs, reference, families)
            table.append(row)
            curves += _curves(mine, row["label"])
    for family in families.values():
        holm_family(family)
    return table, curves
