"""What the mechanisms that could realign or distrust the audio decided, frame by frame, against the ground truth:

- `lag_attention`'s attended lag (s) against each frame's true signed effective lag (built-in + applied shift):
  the correlation over a run's frames (from the per-video sums of tagf.study.cells), with an interval over runs on
  Fisher's z scale; per video and condition, the mean true lag and the mean attended lag (the scatter);
- `reliability`'s weights over {visual, audio, fused} by effective lag, in outages and without a face;
- `tagf_xmodal`'s audio scale by effective lag and in outages.

Exploratory, as every measure but the primary endpoint: intervals only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tagf.study.cells import CONDITION, RUN
from tagf.study.conditions import SHIFT
from tagf.study.statistics import estimate, mean_interval

WEIGHTS = {"diag_reliability": ("visual", "audio", "fused"), "diag_audio_scale": ("audio scale",)}
LAG = "diag_attended_lag_s"


def _of(frame: pd.DataFrame, row: dict) -> pd.DataFrame:
    keep = frame["variant"] == row["variant"]
    for key in CONDITION:
        keep &= frame[key] == row[key]
    return frame[keep]


def _stacked(series: pd.Series) -> np.ndarray:
    return np.stack(series.to_numpy()).astype(float)  # (rows, k)


def attended_lag(cells: pd.DataFrame) -> dict[str, Any] | None:
    """The correlation of attended and true lag over each run's frames (every shift), and the scatter points."""
    shifted = cells[(cells["perturbation"] == SHIFT) & (cells["subset"] == "all") & cells[LAG].notna()]
    if shifted.empty or "sum_lag" not in shifted:
        return None
    correlations = []
    for _, run in shifted.groupby(list(RUN)):
        n = run["n"].sum()
        d, d2, dl = (_stacked(run[c])[:, 0].sum() for c in (LAG, f"{LAG}_sq", f"{LAG}_lag"))
        lag, lag2 = run["sum_lag"].sum(), run["sum_lag2"].sum()
        cov = dl / n - (d / n) * (lag / n)
        spread = np.sqrt(max(d2 / n - (d / n) ** 2, 0) * max(lag2 / n - (lag / n) ** 2, 0))
        correlations.append(float(cov / spread) if spread > 0 else 0.0)
    points = [
        {
            "level": float(level),
            "video": video,
            "true_lag_s": s_lag / n,
            "attended_lag_s": float(np.asarray(d)[0]) / n,
        }
        for level, video, n, s_lag, d in zip(
            shifted["level"], shifted["video"], shifted["n"], shifted["sum_lag"], shifted[LAG]
        )
    ]
    return {
        "correlation": mean_interval(np.clip(correlations, -0.999999, 0.999999), "ccc").as_dict(tested=False),
        "runs": len(correlations),
        "points": points,
    }


def weights(cells: pd.DataFrame, column: str, subsets: list[str], min_frames: int) -> dict[str, list | None]:
    """{subset: [interval of the per-video mean weight of each component]} (every shift pooled for lag bins)."""
    out = {}
    for subset in subsets:
        chosen = cells[cells["subset"] == subset]
        if subset in ("clean", "outage", "no_face"):
            chosen = cells[
                (cells["perturbation"] == SHIFT)
                & (cells["level"] == 0)
                & (cells["subset"] == ("all" if subset == "clean" else subset))
            ]
        else:
            chosen = chosen[chosen["perturbation"] == SHIFT]
        chosen = chosen[chosen[column].notna()]
        if chosen.empty:
            out[subset] = None
            continue
        pooled = chosen.groupby([*RUN, "video"]).agg(
            n=("n", "sum"), total=(column, lambda s: _stacked(s).sum(0))
        )
        pooled = pooled[pooled["n"] >= min_frames]
        if pooled.empty:
            out[subset] = None
            continue
        keys = pooled.index.to_frame(index=False)
        means = np.stack(pooled["total"].to_numpy()) / pooled["n"].to_numpy()[:, None]  # (cells, k)
        out[subset] = [
            estimate(
                list(zip(keys["corpus_seed"], keys["seed"], keys["video"], means[:, m])), "weight"
            ).as_dict(tested=False)
            for m in range(means.shape[1])
        ]
    return out


def diagnostics_summary(frame: pd.DataFrame, rows: list[dict], lag_bins: list[str], min_frames: int) -> dict:
    """The content of diagnostics.json, for the table rows (variant, condition, label) of the summary."""
    subsets = [*lag_bins, "clean", *(s for s in ("outage", "no_face") if (frame["subset"] == s).any())]
    found = []
    for row in rows:
        mine = _of(frame, row)
        entry: dict[str, Any] = {
            "variant": row["variant"],
            **{k: row[k] for k in CONDITION},
            "label": row["label"],
        }
        if LAG in mine and mine[LAG].notna().any():
            entry["attended_lag"] = attended_lag(mine)
        for column, names in WEIGHTS.items():
            if column in mine and mine[column].notna().any():
                entry[column.removeprefix("diag_")] = {
                    "components": list(names),
                    **weights(mine, column, subsets, min_frames),
                }
        if len(entry) > 4:
            found.append(entry)
    return {"subsets": subsets, "rows": found}
