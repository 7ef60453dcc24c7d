"""The ablation's tables: per variant and condition (training augmentation, key mode), CCC, CCC within each frame
category and CCC drop (clean minus perturbed) at each level of each perturbation — audio shift, modality noise,
modality dropout — as means over runs (training seeds × corpus seeds) with a 95 % t interval, and the paired
per-video bootstrap against the reference variant in the same condition of ΔCCC, of ΔCCC per frame category and of
the difference in drop at each level, Holm-corrected across the table's comparisons of each measure
(tagf.evaluation.statistics). Videos of different corpus seeds are different videos (run_ablation names them
apart).
One run gives `n=1` and no interval, never `± 0.000`.

The gate summary: per gated variant and condition, mean α per step and frame category (tagf.evaluation.gate_analysis)
with intervals over runs, and `tagf` against `mean_gate` paired per video on α of step 0 in desynchronised minus
synchronised frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.errors import RunError
from tagf.evaluation.figures import PANELS
from tagf.evaluation.gate_analysis import CATEGORIES, NO_MASKS, step0_contrast
from tagf.evaluation.statistics import holm, mean_interval, paired_bootstrap

SCORES = ("ccc_valence", "ccc_arousal", "ccc_mean")
CONDITION = ("augment_shift_s", "key_mode")  # what else, besides the variant, makes a row of the table
GATES = ("visual", "audio")


def _condition(trial: dict[str, Any]) -> tuple:
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


def drop_key(perturbation: str, level: float) -> str:
    """The key of a level in a row's `drop_<perturbation>`: `+0.5` (seconds of shift), `10` (dB), `0.25` (fraction)."""
    return f"{level:+g}" if perturbation == "shift_s" else f"{level:g}"


def _perturbed(trial: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the clean row — audio shift 0, the plain report scores —, the rows that perturb: every other shift, every
    noise level, every dropout fraction above 0)."""
    rows = trial["robustness"]
    clean = next((r for r in rows if r["perturbation"] == "shift_s" and r["level"] == 0), None)
    if clean is None or any("per_video" not in r for r in rows):
        raise RunError(
            f"ablation run {trial['variant']} seed {trial['seed']}: its robustness rows lack the clean (shift 0) row or "
            "per-video scores; rerun the ablation"
        )
    identity = {"shift_s", "audio_dropout", "visual_dropout"}  # at level 0 these change nothing
    return clean, [r for r in rows if not (r["level"] == 0 and r["perturbation"] in identity)]


def _drops(trial: dict[str, Any]) -> dict[tuple[str, float], float]:
    """{(perturbation, level): clean CCC mean minus perturbed CCC mean}, for one run."""
    clean, perturbed = _perturbed(trial)
    return {(r["perturbation"], r["level"]): clean["ccc_mean"] - r["ccc_mean"] for r in perturbed}


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
    values = [row[f"ccc_{t}"] for t in ("valence", "arousal") if row.get(f"ccc_{t}") is not None]
    return float(np.mean(values)) if values else None


def per_video_means(per_run: list[dict[str, float | None]]) -> dict[str, float]:
    """{video: value averaged over the runs}, from one {video: value or None} per run; None is left out."""
    values: dict[str, list[float]] = {}
    for run in per_run:
        for video, value in run.items():
            if value is not None:
                values.setdefault(video, []).append(value)
    return {video: float(np.mean(v)) for video, v in values.items()}


def _compare(own: dict[str, float], reference: dict[str, float]) -> dict[str, Any] | None:
    """The paired bootstrap over the videos both have a score for; None when there is none."""
    videos = sorted(set(own) & set(reference))
    if not videos:
        return None
    return paired_bootstrap([own[v] for v in videos], [reference[v] for v in videos]).as_dict()


def _holm(comparisons: list[dict[str, Any]]) -> None:
    """Adds p_holm to each comparison that has a p, over those comparisons (one family)."""
    tested = [c for c in comparisons if c is not None and c.get("p") is not None]
    for comparison, adjusted in zip(tested, holm([c["p"] for c in tested])):
        comparison["p_holm"] = adjusted


def _overall_videos(trial: dict[str, Any]) -> dict[str, float | None]:
    return {video: _video_mean(row) for video, row in trial["per_video"].items()}


def _category_videos(trial: dict[str, Any], category: str) -> dict[str, float | None] | None:
    scored = (trial.get("by_category") or {}).get(category)
    return None if scored is None else {video: _video_mean(row) for video, row in scored["per_video"].items()}


def summarize(
    trials: list[dict[str, Any]], variants: list[str], reference: str, tuning: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(table rows per condition and variant, robustness rows averaged over runs per row of the table)."""
    table, curves = [], []
    conditions = sorted({_condition(t) for t in trials})
    several = [key for k, key in enumerate(CONDITION) if len({c[k] for c in conditions}) > 1]
    families: dict[str, list[dict[str, Any]]] = {}
    for condition in conditions:
        runs = {v: [t for t in trials if t["variant"] == v and _condition(t) == condition] for v in variants}
        ref_videos = per_video_means([_overall_videos(t) for t in runs[reference]])
        reference_drops = [_video_drops(t) for t in runs[reference]]
        for variant in variants:
            mine = runs[variant]
            row: dict[str, Any] = {
                "variant": variant,
                **dict(zip(CONDITION, condition)),
                "label": _label(variant, condition, several),
                "tuning": tuning,
                "n": len(mine),
                "profile": mine[0]["profile"],
                "report_split": mine[0]["report_split"],
                **{key: mean_interval([t[f"report_{key}"] for t in mine]).as_dict() for key in SCORES},
            }
            if variant != reference:
                own = per_video_means([_overall_videos(t) for t in mine])
                row["vs_reference"] = {"reference": reference, **_compare(own, ref_videos)}
                families.setdefault("ccc_mean", []).append(row["vs_reference"])
            drops = [_drops(t) for t in mine]
            own_drops = [_video_drops(t) for t in mine] if variant != reference else []
            for perturbation, level in drops[0]:
                cell = mean_interval([d[(perturbation, level)] for d in drops]).as_dict()
                row.setdefault(f"drop_{perturbation}", {})[drop_key(perturbation, level)] = cell
                if variant == reference:
                    continue
                # paired per video with the reference's drop on that video
                own = per_video_means([d[(perturbation, level)] for d in own_drops])
                theirs = per_video_means([d[(perturbation, level)] for d in reference_drops])
                if (compared := _compare(own, theirs)) is not None:
                    cell["vs_reference"] = {"reference": reference, **compared}
                    families.setdefault(f"drop {perturbation} {level:g}", []).append(cell["vs_reference"])
            row["by_category"] = {}
            for category in CATEGORIES:
                scored = [(t.get("by_category") or {}).get(category) for t in mine]
                if any(s is None for s in scored):
                    continue  # no masks, or no labelled frame of this category: no number
                cell: dict[str, Any] = {"ccc_mean": mean_interval([s["ccc_mean"] for s in scored]).as_dict()}
                if variant != reference and all(_category_videos(t, category) for t in runs[reference]):
                    own = per_video_means([_category_videos(t, category) for t in mine])
                    theirs = per_video_means([_category_videos(t, category) for t in runs[reference]])
                    if (compared := _compare(own, theirs)) is not None:
                        cell["vs_reference"] = {"reference": reference, **compared}
                        families.setdefault(category, []).append(cell["vs_reference"])
                row["by_category"][category] = cell
            table.append(row)
            for cell in mine[0]["robustness"]:
                same = [
                    next(
                        r
                        for r in t["robustness"]
                        if (r["perturbation"], r["level"]) == (cell["perturbation"], cell["level"])
                    )
                    for t in mine
                ]
                curves.append(
                    {
                        # what every run has in common (lags and frames: not across corpora); scores: their mean
                        **{k: v for k, v in cell.items() if k != "per_video" and all(r.get(k) == v for r in same)},
                        "model": row["label"],
                        **{k: float(np.mean([r[k] for r in same])) for k in SCORES},
                    }
                )
    for family in families.values():
        _holm(family)
    return table, curves


def _step_intervals(runs: list[dict[str, Any]], gate: str, category: str) -> list[dict[str, Any]] | None:
    """Per step, the interval over runs of each run's mean over videos of its per-video mean α; None without
    frames of the category."""
    per_run = []
    for run in runs:
        videos = [means[category] for means in run["gates"][gate].values() if means[category] is not None]
        if not videos:
            return None
        per_run.append(np.mean(videos, axis=0))  # (M,)
    steps = np.stack(per_run)  # (runs, M)
    return [{"step": m, **mean_interval(steps[:, m]).as_dict()} for m in range(steps.shape[1])]


def gate_summary(
    trials: list[dict[str, Any]], gated: str = "tagf", baseline: str = "mean_gate"
) -> dict[str, Any]:
    """The content of gates.json: intervals of α per gated variant, step and category; `gated` vs `baseline`."""
    with_gates = [t for t in trials if t.get("gates") is not None]
    if not with_gates:
        masks = any(t.get("by_category") is not None for t in trials)
        return {
            "skipped": "gate analysis skipped: no variant of the ablation has a gate" if masks else NO_MASKS
        }
    rows, comparisons = [], []
    for condition in sorted({_condition(t) for t in with_gates}):
        here = [t for t in with_gates if _condition(t) == condition]
        for variant in dict.fromkeys(t["variant"] for t in here):
            runs = [t for t in here if t["variant"] == variant]
            rows.append(
                {
                    "variant": variant,
                    **dict(zip(CONDITION, condition)),
                    "n": len(runs),
                    **{gate: {c: _step_intervals(runs, gate, c) for c in CATEGORIES} for gate in GATES},
                }
            )
        pair = {v: [t for t in here if t["variant"] == v] for v in (gated, baseline)}
        if all(pair.values()):
            comparison = {"model": gated, "baseline": baseline, **dict(zip(CONDITION, condition))}
            for gate in GATES:
                own, theirs = (
                    per_video_means([step0_contrast(t["gates"][gate]) for t in pair[v]])
                    for v in (gated, baseline)
                )
                comparison[gate] = _compare(own, theirs)
            comparisons.append(comparison)
    _holm([c[gate] for c in comparisons for gate in GATES])
    return {
        "measure": "mean gate weight α per recursion step (step 0: the un-fused features), per frame category",
        "categories": list(CATEGORIES),
        "rows": rows,
        "step0_desync_minus_sync": comparisons,
    }


def _cell(interval: dict[str, Any], signed: bool = False) -> str:
    form = "{:+.3f}" if signed else "{:.3f}"
    if interval["ci95"] is None:
        return form.format(interval["mean"])
    low, high = interval["ci95"]
    return f"{form.format(interval['mean'])} [{form.format(low)}, {form.format(high)}]"


def _comparison(found: dict[str, Any] | None) -> str:
    if found is None:
        return "—"
    if found["ci95"] is None:
        return f"{found['delta']:+.3f} ({found['n_videos']} video)"
    p = found.get("p_holm")
    return _cell({"mean": found["delta"], "ci95": found["ci95"]}, signed=True) + (
        f", p={p:.3f}" if p is not None else ""
    )


def _drop_cell(cell: dict[str, Any], reference: bool) -> str:
    return _cell(cell) + ("" if reference else f"; Δ {_comparison(cell.get('vs_reference'))}")


def _table(head: list[str], lines: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cells) + " |" for cells in lines),
    ]


def markdown(table: list[dict[str, Any]], reference: str, gates: dict[str, Any] | None = None) -> str:
    if not table:
        return "No runs.\n"
    levels = list(table[0].get("drop_shift_s", {}))
    first = table[0]
    # Every table says what produced it: the profile (and what differs from it), the split, tuning, statistics.
    out = [
        f"Scored on split `{first['report_split']}`. Tuning: {first['tuning']}. Means over n runs (training seeds × corpus seeds) "
        "with 95 % t intervals (none for n=1); Δ: paired bootstrap over the report videos against the reference in "
        "the same condition, Holm-corrected p. Drops: CCC mean at shift 0 minus at an audio shift of ±s seconds "
        "(each video shifted by its own frames; frames whose audio would leave the video are not scored).",
        *dict.fromkeys(f"- {row['variant']}: profile {row['profile']}" for row in table),
        "",
    ]
    head = ["model", "n", "CCC valence", "CCC arousal", "CCC mean", f"Δ CCC vs {reference}"]
    head += [f"drop @{level} s" for level in levels]
    out += _table(
        head,
        [
            [
                row["label"],
                str(row["n"]),
                *[_cell(row[key]) for key in SCORES],
                "reference" if row["variant"] == reference else _comparison(row.get("vs_reference")),
                *[_cell(row["drop_shift_s"][level]) for level in levels],
            ]
            for row in table
        ],
    )
    compared = [row for row in table if any("vs_reference" in d for d in row.get("drop_shift_s", {}).values())]
    if compared:
        out += [
            "",
            f"Δ drop vs {reference}: a model's drop minus {reference}'s on the same videos (per-video CCC mean), "
            "paired bootstrap over videos, Holm-corrected across the table's comparisons at each shift (positive: it "
            "loses more under the shift):",
            "",
        ]
        out += _table(
            ["model", *[f"Δ drop @{level} s" for level in levels]],
            [
                [row["label"], *[_comparison(row["drop_shift_s"][level].get("vs_reference")) for level in levels]]
                for row in compared
            ],
        )
    for perturbation, label in PANELS:
        key = f"drop_{perturbation}"
        if perturbation == "shift_s" or key not in first:
            continue
        out += [
            "",
            f"Drop under {label}: CCC mean clean minus perturbed (all frames pooled), and Δ: the drop minus "
            f"{reference}'s, per video (per-video CCC), paired bootstrap, Holm-corrected across the table's "
            "comparisons at each level:",
            "",
        ]
        out += _table(
            ["model", *first[key]],
            [[row["label"], *[_drop_cell(cell, row["variant"] == reference) for cell in row[key].values()]] for row in table],
        )
    categories = [c for c in CATEGORIES if any(c in row["by_category"] for row in table)]
    if categories:
        out += [
            "",
            "CCC mean within each frame category of the corpus masks (tagf.evaluation.gate_analysis), and Δ against "
            f"{reference} on those frames:",
            "",
        ]
        rows = []
        for row in table:
            cells = [row["label"]]
            for category in categories:
                cell = row["by_category"].get(category)
                cells += (
                    ["—", "—"]
                    if cell is None
                    else [_cell(cell["ccc_mean"]), _comparison(cell.get("vs_reference"))]
                )
            rows.append(cells)
        out += _table(["model", *[f"{c} {what}" for c in categories for what in ("CCC", "Δ")]], rows)
    if gates is not None:
        out += ["", "Gates: " + (gates["skipped"] if "skipped" in gates else _gate_lines(gates))]
    return "\n".join(out) + "\n"


def _gate_lines(gates: dict[str, Any]) -> str:
    """Mean α of step 0 per category, per gated model and gate, and the paired step-0 contrast (gates.json)."""
    lines = ["mean α of step 0 (un-fused) per frame category (all steps: gates.json, gates.png)", ""]
    rows = []
    for row in gates["rows"]:
        label = f"{row['variant']}, aug ±{row['augment_shift_s']:g} s, {row['key_mode']} key"
        for gate in GATES:
            rows.append(
                [label, gate, *["—" if row[gate][c] is None else _cell(row[gate][c][0]) for c in CATEGORIES]]
            )
    lines += _table(["model", "gate", *CATEGORIES], rows)
    for found in gates["step0_desync_minus_sync"]:
        lines += [
            "",
            f"{found['model']} − {found['baseline']} (aug ±{found['augment_shift_s']:g} s, {found['key_mode']} key), "
            "α of step 0 in desynchronised minus synchronised frames, paired per video: "
            + "; ".join(f"{gate} {_comparison(found[gate])}" for gate in GATES),
        ]
    return "\n".join(lines)
