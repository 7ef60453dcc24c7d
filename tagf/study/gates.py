"""Gate analysis: where does a gated model put its weight α across the recursion steps (step 0: the un-fused
features), frame by frame, as the audio drifts out of alignment?

From the per-video Σα of tagf.study.cells: per gated variant and condition, the mean α of each step per effective
lag bin, in outages and without a face, with intervals on the logit scale (tagf.study.statistics). `mean_gate`'s α is
1/(S+1) by construction and is shown for scale only: a gate is compared with its own α at another lag, never with a
constant.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tagf.study.cells import CONDITION, Endpoint, gate_values
from tagf.study.conditions import SHIFT
from tagf.study.statistics import estimate

GATES = ("visual", "audio")
NO_GATES = "gate analysis skipped: no variant of the ablation has a gate"


def _subsets(frame: pd.DataFrame, lag_bins: list[str]) -> dict[str, Endpoint]:
    named = {b: Endpoint(b, SHIFT, None, (b,)) for b in lag_bins}
    named["clean"] = Endpoint("clean", SHIFT, 0.0, ("all",))
    for category in ("outage", "no_face"):
        if (frame["subset"] == category).any():
            named[category] = Endpoint(category, SHIFT, 0.0, (category,))
    return named


def _steps(found: pd.DataFrame, variant: str, condition: tuple) -> list[dict[str, Any]] | None:
    """Per step, the interval of the per-video mean α over the runs of one variant and condition."""
    mine = found[(found["variant"] == variant)]
    for key, level in zip(CONDITION, condition):
        mine = mine[mine[key] == level]
    if mine.empty:
        return None
    steps = len(mine["value"].iloc[0])
    return [
        estimate(
            [
                (c, s, v, float(alpha[m]))
                for c, s, v, alpha in zip(mine["corpus_seed"], mine["seed"], mine["video"], mine["value"])
            ],
            "weight",
        ).as_dict(tested=False)
        for m in range(steps)
    ]


def gate_summary(
    frame: pd.DataFrame, rows: list[dict[str, Any]], lag_bins: list[str], min_frames: int
) -> dict:
    """The content of gates.json, for the table rows (variant, condition, label) of the summary."""
    if "alpha_visual" not in frame or frame["alpha_visual"].isna().all():
        return {"skipped": NO_GATES}
    subsets = _subsets(frame, lag_bins)
    per_video = {
        (gate, name): gate_values(frame, picked, gate, min_frames)
        for gate in GATES
        for name, picked in subsets.items()
    }
    gated = set(frame.loc[frame["alpha_visual"].notna(), "variant"])
    out = []
    for row in rows:
        if row["variant"] not in gated:
            continue
        condition = tuple(row[key] for key in CONDITION)
        out.append(
            {
                "variant": row["variant"],
                **{key: row[key] for key in CONDITION},
                "label": row["label"],
                **{
                    gate: {
                        name: _steps(per_video[(gate, name)], row["variant"], condition) for name in subsets
                    }
                    for gate in GATES
                },
            }
        )
    return {
        "measure": "mean gate weight α per recursion step (step 0: the un-fused features), per effective-lag bin",
        "subsets": list(subsets),
        "rows": out,
    }
