"""`tagf robustness`: CCC of trained models under audio-visual misalignment, modality noise and modality dropout.

Each row is one (model, perturbation, level): perturbation `shift` (level = audio shift in frames relative to the
video; positive = audio late), `audio_noise` / `visual_noise` (level = SNR in dB), `audio_dropout` /
`visual_dropout` (level = fraction of frames zeroed). Written as JSON (a list of rows, for `dvc plots`) and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_split
from tagf.data.windows import add_noise, drop_frames
from tagf.evaluation.evaluate import LoadedModel, combined_predictions, load_for_evaluation
from tagf.evaluation.scoring import score

FIELDS = ("model", "perturbation", "level", "ccc_valence", "ccc_arousal", "ccc_mean")
DEFAULT_SHIFTS = (0, 5, 15, 30, 60)


def symmetric(shifts) -> list[int]:
    return sorted({s for k in shifts for s in (-abs(int(k)), abs(int(k)))})


def robustness_grid(
    models: dict[str, list[LoadedModel]],
    split: SplitArrays,
    shifts=DEFAULT_SHIFTS,
    snrs_db=(20.0, 10.0, 0.0),
    dropouts=(0.0, 0.25, 0.5),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """`models`: name → its model (or one per target). Every model sees the same perturbation draws."""
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
    rows = []
    for name, loaded in models.items():
        for perturbation, level, data, shift in conditions:
            values, targets = combined_predictions(loaded, data, audio_shift=shift)
            result = score(values, data, targets)
            rows.append(
                {
                    "model": name,
                    "perturbation": perturbation,
                    "level": level,
                    **{k: result.get(k) for k in ("ccc_valence", "ccc_arousal", "ccc_mean")},
                }
            )
    return rows


def robustness_of_files(
    models: dict[str, list[str]], store: str, split_name: str = "test", **grid
) -> list[dict]:
    """The grid for model files (name → URLs) on a split of a feature store."""
    loaded = {name: [load_for_evaluation(url) for url in urls] for name, urls in models.items()}
    return robustness_grid(loaded, read_split(store, split_name), **grid)


def write_table(rows: list[dict[str, Any]], json_url: str, csv_url: str | None = None) -> None:
    storage.write_text(json_url, json.dumps(rows, indent=1))
    if csv_url:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        storage.write_text(csv_url, text.getvalue())
