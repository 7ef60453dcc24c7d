"""`tagf robustness`: CCC of trained models under audio-visual misalignment, modality noise and modality dropout.

Each row is one (model, perturbation, level): perturbation `shift` (level = audio shift in frames relative to the
video; positive = audio late), `audio_noise` / `visual_noise` (level = SNR in dB), `audio_dropout` /
`visual_dropout` (level = fraction of frames zeroed), with `frames` scored. Under a shift of k frames, the k frames
per video whose audio would come from outside the video are left out of scoring: they have no audio to misalign.
On the synthetic corpus each row also has the lag the model faces, built-in per-video lag + applied shift, in
seconds: `effective_lag_s_mean`/`_min`/`_max` over the split's videos and `effective_lag_s` {video: lag}.
Each row also has the per-video scores (`per_video`), for paired comparisons. Written as JSON (a list of rows, for
`dvc plots`, without the per-video scores) and CSV (without the per-video scores and lags).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_split
from tagf.data.windows import add_noise, audio_inside_video, drop_frames
from tagf.errors import DataError
from tagf.evaluation.evaluate import LoadedModel, combined_predictions, load_for_evaluation
from tagf.evaluation.ground_truth import AudioLags, audio_lags
from tagf.evaluation.robustness_defaults import DEFAULT_DROPOUT, DEFAULT_SHIFTS, DEFAULT_SNR_DB
from tagf.evaluation.scoring import score

FIELDS = ("model", "perturbation", "level", "ccc_valence", "ccc_arousal", "ccc_mean", "frames")
LAG_FIELDS = ("effective_lag_s_mean", "effective_lag_s_min", "effective_lag_s_max")


def symmetric(shifts) -> list[int]:
    return sorted({s for k in shifts for s in (-abs(int(k)), abs(int(k)))})


def effective_lag(lags: AudioLags, shift: int) -> dict[str, Any]:
    """The row fields of the lag the model faces under `shift`: mean, min, max and per video, in seconds."""
    per_video = lags.effective_s(shift)  # (V,)
    return {
        "effective_lag_s_mean": float(per_video.mean()),
        "effective_lag_s_min": float(per_video.min()),
        "effective_lag_s_max": float(per_video.max()),
        "effective_lag_s": dict(zip(lags.videos, per_video.tolist())),
    }


def robustness_grid(
    models: dict[str, list[LoadedModel]],
    split: SplitArrays,
    shifts=DEFAULT_SHIFTS,
    snrs_db=DEFAULT_SNR_DB,
    dropouts=DEFAULT_DROPOUT,
    seed: int = 0,
    split_name: str | None = None,
    lags: AudioLags | None = None,
) -> list[dict[str, Any]]:
    """`models`: name → its model (or one per target). Every model sees the same perturbation draws.

    `split_name` names the split in errors; `lags` (synthetic corpus only) adds the effective lag to each row.
    """
    conditions = [("shift", shift, split, shift) for shift in symmetric(shifts)]
    for modality in ("audio", "visual"):
        conditions += [
            (f"{modality}_noise", float(snr), add_noise(split, modality, snr, np.random.default_rng(seed)), 0)
            for snr in snrs_db
        ]
        conditions += [
            (f"{modality}_dropout", float(f), drop_frames(split, modality, f, np.random.default_rng(seed)), 0)
            for f in dropouts
        ]
    where = f"split {split_name!r}" if split_name else "the split"
    rows = []
    for name, loaded in models.items():
        for perturbation, level, data, shift in conditions:
            scored = data.label_valid & audio_inside_video(data, shift)  # (N,)
            if data.label_valid.any() and not scored.any():
                longest = int(np.diff(data.offsets).max())
                raise DataError(
                    f"audio shift {shift:+d} frames: no labelled frame of {where} keeps its audio inside its "
                    f"video (longest video: {longest} frames), so there is nothing to score; use smaller --shifts"
                )
            values, targets = combined_predictions(loaded, data, audio_shift=shift)
            result = score(values, data, targets, valid=scored, split_name=split_name)
            rows.append(
                {
                    "model": name,
                    "perturbation": perturbation,
                    "level": level,
                    **{k: result.get(k) for k in ("ccc_valence", "ccc_arousal", "ccc_mean", "frames")},
                    "per_video": result["per_video"],  # for paired comparisons (write_table leaves it out)
                    **(effective_lag(lags, shift) if lags is not None else {}),
                }
            )
    return rows


def robustness_of_files(
    models: dict[str, list[str]], store: str, split_name: str = "test", **grid
) -> list[dict]:
    """The grid for model files (name → URLs) on a split of a feature store."""
    loaded = {name: [load_for_evaluation(url) for url in urls] for name, urls in models.items()}
    split = read_split(store, split_name)
    return robustness_grid(loaded, split, split_name=split_name, lags=audio_lags(store, split), **grid)


def write_table(rows: list[dict[str, Any]], json_url: str, csv_url: str | None = None) -> None:
    rows = [{k: v for k, v in row.items() if k != "per_video"} for row in rows]
    storage.write_text(json_url, json.dumps(rows, indent=1, allow_nan=False))
    if csv_url:
        fields = FIELDS + (LAG_FIELDS if rows and LAG_FIELDS[0] in rows[0] else ())
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        storage.write_text(csv_url, text.getvalue())
