"""`tagf evaluate`: ABAW-protocol CCC of one model (or one model per target) on a split of the feature store.

Writes a metrics JSON with stable keys (ccc_valence, ccc_arousal, ccc_mean, frames, per_video and, on the synthetic
corpus, `latent`: the same scores against the noise-free ground truth) and the per-frame predictions as Parquet.
A split with no labelled frame (Aff-Wild2's test split) is an error, not a CCC of 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_split
from tagf.data.synth.ground_truth import latent_labels, with_lags
from tagf.errors import ModelFileError, UsageError
from tagf.evaluation.inference import predict_frames
from tagf.evaluation.scoring import score
from tagf.models import FusionModel, load_model
from tagf.score_names import TARGETS


@dataclass
class LoadedModel:
    model: FusionModel
    targets: list[str]  # what its output columns are
    window: int
    hop: int


def load_for_evaluation(url: str) -> LoadedModel:
    """The model with what it predicts and how it was windowed, from the training (or import) record it carries."""
    model, extra = load_model(url)
    train = extra.get("train", {})
    missing = [key for key in ("target", "window", "hop") if key not in train]
    if missing:
        raise ModelFileError(
            f"{url}: the model file does not record its {', '.join(missing)}; "
            "re-import it with `tagf import-checkpoint --target ... --hop ...`"
        )
    targets = list(TARGETS) if train["target"] == "both" else [train["target"]]
    if model.cfg.outputs != len(targets):
        raise ModelFileError(f"{url}: {model.cfg.outputs} outputs but trained for {train['target']}")
    return LoadedModel(model, targets, train["window"], train["hop"])


def combined_predictions(
    models: list[LoadedModel], split: SplitArrays, audio_shift: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Per-frame values (N, targets) of one model, or of one model per target joined, in valence-arousal order."""
    columns, targets = [], []
    for loaded in models:
        predicted = predict_frames(loaded.model, split, loaded.window, loaded.hop, audio_shift=audio_shift)
        for k, target in enumerate(loaded.targets):
            if target in targets:
                raise UsageError(f"two models predict {target}; give one model per target")
            targets.append(target)
            columns.append(predicted.values[:, k])
    order = sorted(range(len(targets)), key=lambda i: TARGETS.index(targets[i]))
    return np.stack([columns[i] for i in order], axis=1), [targets[i] for i in order]


def write_predictions(url: str, split: SplitArrays, values: np.ndarray, targets: list[str]) -> None:
    videos = np.repeat(np.array(split.videos, dtype=object), np.diff(split.offsets))
    columns: dict[str, Any] = {"video": pa.array(videos, pa.string()), "frame": split.frames}
    for k, target in enumerate(targets):
        columns[f"{target}_pred"] = values[:, k].astype(np.float32)
    columns.update(valence=split.labels[:, 0], arousal=split.labels[:, 1], label_valid=split.label_valid)
    with storage.atomic_path(url) as (fs, tmp), fs.open(tmp, "wb") as f:
        pq.write_table(pa.table(columns), f)


def evaluate(
    model_urls: list[str],
    store: str,
    split_name: str = "validation",
    metrics_url: str | None = None,
    predictions_url: str | None = None,
    split: SplitArrays | None = None,
) -> dict[str, Any]:
    """Scores of the models on `split_name` of the store (or on `split`, already loaded under that name)."""
    models = [load_for_evaluation(url) for url in model_urls]
    split = with_lags(store, read_split(store, split_name)) if split is None else split
    values, targets = combined_predictions(models, split)
    metrics = {"split": split_name, **score(values, split, targets, split_name=split_name)}
    latent = latent_labels(store, split)
    if latent is not None:
        everywhere = np.ones(len(latent), bool)
        scored = score(values, split, targets, labels=latent, valid=everywhere, split_name=split_name)
        metrics["latent"] = {k: v for k, v in scored.items() if k != "per_video"}
    if metrics_url:
        storage.write_text(metrics_url, json.dumps(metrics, indent=1, allow_nan=False))
    if predictions_url:
        write_predictions(predictions_url, split, values, targets)
    return metrics
