"""`tagf evaluate`: ABAW-protocol CCC of one model (or one model per target) on a split of the feature store.

Writes a metrics JSON with stable keys (ccc_valence, ccc_arousal, ccc_mean, frames, per_video and, on the synthetic
corpus, `latent`: the same scores against the noise-free ground truth) and the per-frame predictions as Parquet.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_manifest, read_split
from tagf.evaluation.prediction import predict_frames
from tagf.evaluation.scoring import TARGETS, score
from tagf.models import FusionModel, load_model


@dataclass
class LoadedModel:
    model: FusionModel
    targets: list[str]  # what its output columns are
    window: int
    hop: int


def load_for_evaluation(url: str) -> LoadedModel:
    model, extra = load_model(url)
    train = extra.get("train", {})
    target = train.get("target", "both")
    targets = list(TARGETS) if target == "both" else [target]
    if model.cfg.outputs != len(targets):
        targets = list(TARGETS)[: model.cfg.outputs]
    return LoadedModel(
        model, targets, train.get("window", model.cfg.window), train.get("hop", model.cfg.window)
    )


def combined_predictions(
    models: list[LoadedModel], split: SplitArrays, audio_shift: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Per-frame values (N, targets) of one model, or of one model per target joined, in valence-arousal order."""
    columns, targets = [], []
    for loaded in models:
        predicted = predict_frames(loaded.model, split, loaded.window, loaded.hop, audio_shift=audio_shift)
        for k, target in enumerate(loaded.targets):
            if target in targets:
                raise ValueError(f"two models predict {target}; give one model per target")
            targets.append(target)
            columns.append(predicted.values[:, k])
    order = sorted(range(len(targets)), key=lambda i: TARGETS.index(targets[i]))
    return np.stack([columns[i] for i in order], axis=1), [targets[i] for i in order]


def latent_labels(store: str, split: SplitArrays) -> np.ndarray | None:
    """(N, 2) noise-free VA of a synthetic corpus, aligned with the split's rows; None for other corpora."""
    root = read_manifest(store).get("corpus", {}).get("root")
    if not root or not storage.exists(storage.join(root, "ground_truth", "latent")):
        return None
    latent = np.zeros_like(split.labels)
    for v, video in enumerate(split.videos):
        text = storage.read_text(storage.join(root, "ground_truth", "latent", f"{video}.csv"))
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)
        rows = split.video_slice(v)
        latent[rows] = table[split.frames[rows] - 1, 1:3]
    return latent


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
) -> dict[str, Any]:
    models = [load_for_evaluation(url) for url in model_urls]
    split = read_split(store, split_name)
    values, targets = combined_predictions(models, split)
    metrics = {"split": split_name, **score(values, split, targets)}
    latent = latent_labels(store, split)
    if latent is not None:
        scored = score(values, split, targets, labels=latent, valid=np.ones(len(latent), bool))
        metrics["latent"] = {k: v for k, v in scored.items() if k != "per_video"}
    if metrics_url:
        storage.write_text(metrics_url, json.dumps(metrics, indent=1))
    if predictions_url:
        write_predictions(predictions_url, split, values, targets)
    return metrics
