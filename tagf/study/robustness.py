"""`tagf robustness`: the protocol (tagf.study.protocol) for trained model files side by side, on the same frames:
per model, perturbation and level, the pooled CCC of every scored frame (as ABAW pools a split), the mean
per-video CCC, the frames, and, on a synthetic corpus, CCC by effective audio lag (`lag_s`). Written as JSON (for
`dvc plots`), CSV, a figure, and the per-video scores in the study's schema (tagf.study.cells), which
`tagf compare` reads.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pandas as pd

from tagf import storage
from tagf.data.feature_store import read_split
from tagf.data.synth.ground_truth import with_lags
from tagf.evaluation.evaluate import load_for_evaluation
from tagf.score_names import MEAN
from tagf.study.cells import SUMS, ccc_of_sums, lag_bounds, pooled, targets_of, write_cells
from tagf.study.conditions import SHIFT, ProtocolSettings
from tagf.study.protocol import Protocol, score_run

FIELDS = (
    "model",
    "perturbation",
    "level",
    "ccc_valence",
    "ccc_arousal",
    MEAN,
    "ccc_mean_per_video",
    "frames",
)


def _pooled(cells: pd.DataFrame, targets: list[str]) -> dict[str, Any]:
    """The pooled CCC of `cells` (tagf.study.cells.pooled), with the mean per-video CCC beside it."""
    columns = ["n", *(f"{s}_{t}" for t in targets for s in SUMS)]
    per_video = cells.groupby("video")[columns].sum()
    video_ccc = np.mean(
        [ccc_of_sums(per_video["n"], *(per_video[f"{s}_{t}"] for s in SUMS)) for t in targets], 0
    )
    return {**pooled(cells), "ccc_mean_per_video": float(np.mean(video_ccc))}


def table(cells: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per model, perturbation and level (every scored frame), then per model and lag bin (`lag_s`, level:
    the bin's lower edge, every shift pooled)."""
    targets = targets_of(cells)
    rows = []
    everything = cells[cells["subset"] == "all"]
    for (model, perturbation, level), group in everything.groupby(
        ["variant", "perturbation", "level"], sort=False
    ):
        rows.append(
            {"model": model, "perturbation": perturbation, "level": float(level), **_pooled(group, targets)}
        )
    lagged = cells[
        (cells["perturbation"] == SHIFT) & cells["subset"].map(lambda s: lag_bounds(s) is not None)
    ]
    for (model, subset), group in lagged.groupby(["variant", "subset"], sort=False):
        rows.append(
            {
                "model": model,
                "perturbation": "lag_s",
                "level": lag_bounds(subset)[0],
                **_pooled(group, targets),
            }
        )
    return rows


def robustness_of_files(
    models: dict[str, list[str]], store: str, split_name: str, settings: ProtocolSettings, seed: int = 0
) -> pd.DataFrame:
    """The protocol's cells for model files (name → URLs: one, or one per target) on a split of a feature store, as
    a study's per-video scores (variant = the name; one run each)."""
    split = with_lags(store, read_split(store, split_name))
    protocol = Protocol.of_store(store, split_name, split, settings)
    frames = []
    for name, urls in models.items():
        loaded = [load_for_evaluation(url) for url in urls]
        cells = pd.DataFrame(score_run(loaded, split, protocol, seed))
        key_mode = (
            loaded[0].model.cfg.key_mode
            if loaded[0].model.per_target is None
            else loaded[0].model.per_target[0].cfg.key_mode
        )
        frames.append(
            cells.assign(variant=name, augment_shift_s=0.0, key_mode=key_mode, seed=seed, corpus_seed=0)
        )
    return pd.concat(frames, ignore_index=True)


def write_outputs(
    cells: pd.DataFrame, out_dir: str, split_name: str, settings: ProtocolSettings
) -> list[dict]:
    rows = table(cells)
    storage.write_text(storage.join(out_dir, "robustness.json"), json.dumps(rows, indent=1, allow_nan=False))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_text(storage.join(out_dir, "robustness.csv"), text.getvalue())
    models = list(dict.fromkeys(cells["variant"]))
    meta = {
        "report_split": split_name,
        "settings": settings.model_dump(),
        "min_frames": settings.min_frames,
        "variants": models,
        "reference": models[0],
        "controls": [],
        "primary": "clean",
        "margin": 0.02,
        "setups": {},
        "tuning": "none: models trained elsewhere (tagf robustness)",
    }
    write_cells(storage.join(out_dir, "per_video.parquet"), cells, meta)
    return rows
