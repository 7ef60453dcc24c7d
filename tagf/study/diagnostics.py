"""What the mechanisms that could realign or distrust the audio decided, frame by frame, against the ground truth:

- a lag estimate (`lag_attention`'s attended lag, `sync_align`'s estimated offset; per-frame columns `diag_*_lag_s`)
  against each frame's true signed effective lag (built-in + applied shift): per video, the correlation over its
  frames under every shift and the mean absolute error; per effective-lag bin, the mean absolute error, and for a
  model that acts on its estimate only when confident (`diag_realigned`, `diag_sync_confidence`) how often it did,
  its mean confidence, and the error where it acted against where it did not (does the confidence know the error?);
  per video and condition, the mean true lag and the mean estimate (the scatter);
- `reliability`'s weights over {visual, audio, fused} by effective lag, in outages and without a face;
- `tagf_xmodal`'s audio scale by effective lag and in outages.

Every interval is at the study's unit of inference (tagf.study.statistics: the corpora when there are enough of
them, else seeds × videos within them), from per-video values: a run is never an independent unit. Exploratory,
as every measure but the primary endpoint: intervals only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tagf.study.cells import CONDITION, RUN, lag_bounds
from tagf.study.conditions import SHIFT
from tagf.study.statistics import estimate

WEIGHTS = {"diag_reliability": ("visual", "audio", "fused"), "diag_audio_scale": ("audio scale",)}
ACTED, CONFIDENCE = "diag_realigned", "diag_sync_confidence"


def _of(frame: pd.DataFrame, row: dict) -> pd.DataFrame:
    keep = frame["variant"] == row["variant"]
    for key in CONDITION:
        keep &= frame[key] == row[key]
    return frame[keep]


def _first(series: pd.Series) -> np.ndarray:
    """The first element of each row's per-frame sums (a scalar diagnostic's), as floats."""
    return np.stack(series.to_numpy()).astype(float)[:, 0]  # (rows,)


def _interval(pooled: pd.DataFrame, value: np.ndarray, kind: str) -> dict[str, Any] | None:
    """The estimate of per-(run, video) values at the study's unit of inference; None without any."""
    keep = np.isfinite(value)
    if not keep.any():
        return None
    keys = pooled.index.to_frame(index=False)[keep]
    cells = zip(keys["corpus_seed"], keys["seed"], keys["video"], value[keep])
    return estimate(list(cells), kind).as_dict(tested=False)


def _pooled(cells: pd.DataFrame, column: str, min_frames: int) -> pd.DataFrame:
    """Per run and video, the frames and the sums a lag estimate needs, over `cells`."""
    sums = {
        "n": cells["n"].to_numpy(),
        "lag": cells["sum_lag"].to_numpy(),
        "lag2": cells["sum_lag2"].to_numpy(),
    }
    for suffix in ("", "_sq", "_lag", "_abs_error", "_abs_error_realigned"):
        if f"{column}{suffix}" in cells:
            sums[f"d{suffix}"] = _first(cells[f"{column}{suffix}"])
    for name in (ACTED, CONFIDENCE):
        if name in cells and cells[name].notna().all():
            sums[name] = _first(cells[name])
    table = pd.DataFrame(sums, index=pd.MultiIndex.from_frame(cells[[*RUN, "video"]]))
    pooled = table.groupby(level=list(range(len(RUN) + 1))).sum()
    return pooled[pooled["n"] >= min_frames]


def lag_estimate(cells: pd.DataFrame, column: str, lag_bins: list[str], min_frames: int) -> dict | None:
    """How a per-frame lag estimate `column` follows the true effective lag (module docstring)."""
    shifted = cells[(cells["perturbation"] == SHIFT) & cells[column].notna() & cells["sum_lag"].notna()]
    if shifted.empty:
        return None
    whole = _pooled(shifted[shifted["subset"] == "all"], column, min_frames)
    n = whole["n"]
    cov = whole["d_lag"] / n - whole["d"] / n * whole["lag"] / n
    spread = np.sqrt(
        np.clip(whole["d_sq"] / n - (whole["d"] / n) ** 2, 0, None)
        * np.clip(whole["lag2"] / n - (whole["lag"] / n) ** 2, 0, None)
    )
    correlation = np.where(
        spread > 0, cov / np.where(spread > 0, spread, 1), np.nan
    )  # none where d is constant
    found: dict[str, Any] = {
        "correlation": _interval(whole, np.clip(correlation, -0.999999, 0.999999), "ccc"),
        "mae_s": _interval(whole, (whole["d_abs_error"] / n).to_numpy(), "seconds")
        if "d_abs_error" in whole
        else None,  # scores written before the error was kept
        "by_lag": {},
    }
    for subset in lag_bins if "d_abs_error" in whole else ():
        binned = _pooled(shifted[shifted["subset"] == subset], column, min_frames)
        if binned.empty:
            continue
        n = binned["n"].to_numpy(float)
        entry = {"mae_s": _interval(binned, binned["d_abs_error"].to_numpy() / n, "seconds")}
        if ACTED in binned:
            acted = binned[ACTED].to_numpy()
            error, error_acted = binned["d_abs_error"].to_numpy(), binned["d_abs_error_realigned"].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                entry |= {
                    "realigned": _interval(binned, acted / n, "weight"),
                    "confidence": _interval(binned, binned[CONFIDENCE].to_numpy() / n, "weight"),
                    "mae_realigned_s": _interval(binned, error_acted / acted, "seconds"),
                    "mae_kept_s": _interval(binned, (error - error_acted) / (n - acted), "seconds"),
                }
        found["by_lag"][subset] = entry
    found["points"] = [
        {"level": float(level), "video": video, "true_lag_s": s_lag / n, "estimated_lag_s": float(d[0]) / n}
        for level, video, n, s_lag, d in zip(
            shifted["level"], shifted["video"], shifted["n"], shifted["sum_lag"], shifted[column]
        )
        if d is not None
    ][:: max(1, len(shifted) // 2000)]  # a scatter of at most about 2000 points
    return found


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
            n=("n", "sum"), total=(column, lambda s: np.stack(s.to_numpy()).astype(float).sum(0))
        )
        pooled = pooled[pooled["n"] >= min_frames]
        if pooled.empty:
            out[subset] = None
            continue
        means = np.stack(pooled["total"].to_numpy()) / pooled["n"].to_numpy()[:, None]  # (cells, k)
        out[subset] = [_interval(pooled, means[:, m], "weight") for m in range(means.shape[1])]
    return out


def diagnostics_summary(frame: pd.DataFrame, rows: list[dict], lag_bins: list[str], min_frames: int) -> dict:
    """The content of diagnostics.json, for the table rows (variant, condition, label) of the summary."""
    subsets = [*lag_bins, "clean", *(s for s in ("outage", "no_face") if (frame["subset"] == s).any())]
    lag_bins = sorted(lag_bins, key=lambda s: lag_bounds(s)[0])
    found = []
    for row in rows:
        mine = _of(frame, row)
        entry: dict[str, Any] = {
            "variant": row["variant"],
            **{k: row[k] for k in CONDITION},
            "label": row["label"],
        }
        for column in mine.columns:
            if column.startswith("diag_") and column.endswith("_lag_s") and mine[column].notna().any():
                entry[column.removeprefix("diag_")] = lag_estimate(mine, column, lag_bins, min_frames)
        for column, names in WEIGHTS.items():
            if column in mine and mine[column].notna().any():
                entry[column.removeprefix("diag_")] = {
                    "components": list(names),
                    **weights(mine, column, subsets, min_frames),
                }
        if len(entry) > 4:
            found.append(entry)
    return {"subsets": subsets, "rows": found}
