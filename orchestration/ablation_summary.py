"""The ablation's table: per variant, CCC and CCC drop under audio shift as a mean over runs (training seeds) with a
95 % t interval, and the paired per-video bootstrap of ΔCCC against the reference variant, Holm-corrected across
variants (tagf.evaluation.statistics). One run gives `n=1` and no interval, never `± 0.000`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.evaluation.statistics import holm, mean_interval, paired_bootstrap

SCORES = ("ccc_valence", "ccc_arousal", "ccc_mean")


def _shift_drops(trial: dict[str, Any]) -> dict[int, float]:
    """CCC mean at shift 0 minus at each other shift, for one run."""
    shifts = {r["level"]: r["ccc_mean"] for r in trial["robustness"] if r["perturbation"] == "shift"}
    if 0 not in shifts:
        return {}
    return {int(level): shifts[0] - value for level, value in shifts.items() if level != 0}


def per_video_means(trials: list[dict[str, Any]], variant: str) -> dict[str, float]:
    """Each report video's CCC mean for one variant, averaged over its runs; videos without labels are left out."""
    scores: dict[str, list[float]] = {}
    for trial in (t for t in trials if t["variant"] == variant):
        for video, row in trial["per_video"].items():
            values = [row[f"ccc_{t}"] for t in ("valence", "arousal") if row.get(f"ccc_{t}") is not None]
            if values:
                scores.setdefault(video, []).append(float(np.mean(values)))
    return {video: float(np.mean(values)) for video, values in scores.items()}


def summarize(
    trials: list[dict[str, Any]], variants: list[str], reference: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(table rows per variant, robustness rows averaged over runs per variant)."""
    table, curves = [], []
    reference_videos = per_video_means(trials, reference) if reference in variants else {}
    for variant in variants:
        mine = [t for t in trials if t["variant"] == variant]
        row: dict[str, Any] = {
            "variant": variant,
            "n": len(mine),
            "profile": mine[0]["profile"],
            "report_split": mine[0]["report_split"],
            **{key: mean_interval([t[f"report_{key}"] for t in mine]).as_dict() for key in SCORES},
        }
        drops = [_shift_drops(t) for t in mine]
        row["drop_shift"] = {
            f"{level:+d}": mean_interval([d[level] for d in drops]).as_dict() for level in sorted(drops[0])
        }
        if reference_videos and variant != reference:
            own = per_video_means(trials, variant)
            videos = sorted(set(own) & set(reference_videos))
            row["vs_reference"] = {
                "reference": reference,
                **paired_bootstrap([own[v] for v in videos], [reference_videos[v] for v in videos]).as_dict(),
            }
        table.append(row)
        for cell in mine[0]["robustness"]:
            same = [
                next(r for r in t["robustness"] if (r["perturbation"], r["level"]) == (cell["perturbation"], cell["level"]))
                for t in mine
            ]
            curves.append({**cell, **{k: float(np.mean([r[k] for r in same])) for k in SCORES}})
    compared = [row for row in table if row.get("vs_reference", {}).get("p") is not None]
    for row, adjusted in zip(compared, holm([row["vs_reference"]["p"] for row in compared])):
        row["vs_reference"]["p_holm"] = adjusted
    return table, curves


def _cell(interval: dict[str, Any]) -> str:
    if interval["ci95"] is None:
        return f"{interval['mean']:.3f}"
    return f"{interval['mean']:.3f} [{interval['ci95'][0]:.3f}, {interval['ci95'][1]:.3f}]"


def _comparison(row: dict[str, Any]) -> str:
    found = row.get("vs_reference")
    if found is None:
        return "—"
    if found["ci95"] is None:
        return f"{found['delta']:+.3f} ({found['n_videos']} video)"
    p = found.get("p_holm")
    return (
        f"{found['delta']:+.3f} [{found['ci95'][0]:+.3f}, {found['ci95'][1]:+.3f}]"
        + (f", p={p:.3f}" if p is not None else "")
    )


def markdown(table: list[dict[str, Any]], reference: str) -> str:
    levels = list(table[0]["drop_shift"]) if table else []
    head = ["variant", "n", "CCC valence", "CCC arousal", "CCC mean", f"Δ CCC vs {reference} (videos)"]
    head += [f"drop @{level}" for level in levels]
    # Every table says what produced it: the profile (and what differs from it), the split scored, the statistics.
    caption = [
        f"Scored on split `{table[0]['report_split']}`. Means over n runs with 95 % t intervals (none for n=1); "
        f"Δ: paired bootstrap over the report videos, Holm-corrected p. Drops: CCC mean at shift 0 minus at the "
        "shift (frames; frames whose audio would leave the video are not scored)."
        if table
        else ""
    ]
    caption += [f"- {row['variant']}: profile {row['profile']}" for row in table]
    lines = [*caption, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        cells = [row["variant"], str(row["n"]), *[_cell(row[key]) for key in SCORES]]
        cells.append("reference" if row["variant"] == reference else _comparison(row))
        cells += [_cell(row["drop_shift"][level]) for level in levels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
