"""`train()`: the one training loop, for the CLI, the DVC stage and Ray Tune trials alike.

Loss 1 − CCC per window; Adam/AdamW; the schedule of `schedule.py`; early stopping and the best weights judged on
the *selection* split (never the split numbers are reported on; metrics keep the `val_` prefix). Every epoch
writes a checkpoint (`checkpoint.py`), and a run started again on the same output directory resumes after the last
finished epoch and ends exactly as an uninterrupted run would. A NaN or infinite training loss or selection
prediction stops the run at once with a NonFiniteError naming the epoch, and nothing (no model.pt, no history.json)
is written: a diverged run has no result. It knows nothing of Ray or MLflow: they listen through callbacks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_manifest
from tagf.data.splits import load_splits
from tagf.data.windows import Windows
from tagf.errors import DataError, ParamsError
from tagf.evaluation.inference import predict_frames
from tagf.evaluation.scoring import NonFiniteError, score
from tagf.metrics import ccc_loss
from tagf.models import FusionModel, ModelConfig, build_model, save_model
from tagf.provenance import environment, git_commit
from tagf.score_names import MEAN, SELECTION_MEAN, TARGETS, best_key, ccc_key, val_key
from tagf.training import precision
from tagf.training.best_weights import BestWeights
from tagf.training.callbacks import PrintProgress, TrainingCallback
from tagf.training.checkpoint import CHECKPOINT_DIR, load_checkpoint, restore_rng, rng_state, save_checkpoint
from tagf.training.config import TrainConfig
from tagf.training.schedule import LearningRateSchedule


@dataclass
class TrainResult:
    model: FusionModel  # with the best weights, in eval mode
    best: dict[str, Any]  # the selection-split metrics of the best weights
    history: list[dict[str, Any]]


@dataclass
class _Run:
    """The state of one training run that a checkpoint saves and a resumed run restores."""

    model: FusionModel
    optimizer: torch.optim.Optimizer
    schedule: LearningRateSchedule
    best: BestWeights
    rng: np.random.Generator
    history: list[dict[str, Any]]
    epoch: int = 0  # the last finished epoch
    stale: int = 0  # epochs since the selection score last improved

    def state(self, model_cfg: ModelConfig, train_cfg: TrainConfig, label: str | None) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "best_weights": self.best.state_dict(),
            "best": self.best.best(),
            "targets": self.best.targets,
            "history": self.history,
            "epoch": self.epoch,
            "stale": self.stale,
            "rng": rng_state(self.rng),
            "model_config": model_cfg.model_dump(),
            "train_config": train_cfg.model_dump(),
            "setup": label,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        self.best.load_state_dict(saved["best_weights"])
        self.history, self.epoch, self.stale = saved["history"], saved["epoch"], saved["stale"]
        restore_rng(self.rng, saved["rng"])


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParamsError("train.device: cuda requested but no GPU is available")
    return torch.device(name)


def fit_model_config(model_cfg: ModelConfig, train_cfg: TrainConfig, split: SplitArrays) -> ModelConfig:
    """The model config with its input sizes and outputs checked against the data and the target."""
    dims = {"visual_in": split.visual.shape[1], "audio_in": split.audio.shape[1]}
    for field, size in dims.items():
        if getattr(model_cfg, field) != size:
            raise ParamsError(
                f"model.{field} is {getattr(model_cfg, field)} but the feature store has {size}"
            )
    if model_cfg.key_mode == "faithful" and model_cfg.window != train_cfg.window:
        raise ParamsError(
            f"model.window ({model_cfg.window}) != train.window ({train_cfg.window}): faithful TAGF is fixed to its "
            "window; use the same length or key_mode=length_agnostic"
        )
    # Seconds become frames at the training videos' rate (one rate for every video: the model works in frames).
    fps = float(np.median(list(split.fps.values()))) if split.fps else model_cfg.fps
    return model_cfg.model_copy(update={"outputs": len(train_cfg.target_columns), "fps": fps})


def _train_epoch(
    model, optimizer, schedule, windows, train_cfg, rng, device, callbacks, epoch, steps
) -> dict:
    """One pass over the training windows; (mean loss, frames per second)."""
    model.train()
    columns = train_cfg.target_columns
    per_target = len(columns) if model.per_target is not None else 1
    autocast = precision.autocast(train_cfg.precision, device)
    started, losses, frames = time.perf_counter(), [], 0
    batches = windows.batches(train_cfg.batch_size, rng, max_audio_shift=train_cfg.max_audio_shift)
    for progress in callbacks:
        batches = progress.progress(batches, steps, epoch)
    for number, batch in enumerate(batches, 1):
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            out = model(batch.visual, batch.audio, batch.frame_mask)
        labels = batch.labels[..., columns]
        loss = ccc_loss(out.prediction.float(), labels, batch.label_mask)
        for auxiliary in out.auxiliary:  # unimodal heads (reliability), each with its own 1 − CCC
            loss = loss + model.cfg.auxiliary_weight * ccc_loss(auxiliary.float(), labels, batch.label_mask)
        # ccc_loss averages over targets; with one model per target, each must get its own loss's full gradient
        # (Adam's weight decay is not scale-free), so the sum of the targets' losses is what is minimised.
        (loss * per_target).backward()
        optimizer.step()
        schedule.after_batch()
        losses.append(loss.item())
        if not np.isfinite(losses[-1]):
            raise NonFiniteError(
                f"epoch {epoch}, batch {number} of {steps}: the training loss is {losses[-1]}; "
                "stopped without writing model.pt or history.json (look for NaN/inf in the features, or "
                "lower train.lr)"
            )
        frames += int(batch.frame_mask.sum())
    return {
        "train_loss": float(np.mean(losses)),
        "train_frames_per_s": frames / (time.perf_counter() - started),
    }


def _score_selection(model, split, train_cfg, device, epoch, split_name) -> dict[str, Any]:
    targets = train_cfg.targets
    predicted = predict_frames(model, split, train_cfg.window, train_cfg.hop, device=device).values
    try:
        scored = score(predicted, split, targets, split_name=split_name)
    except NonFiniteError as err:
        raise NonFiniteError(
            f"epoch {epoch}: {err}; stopped without writing model.pt or history.json"
        ) from None
    # None (null in history.json) for a target this model does not predict.
    return {val_key(ccc_key(t)): scored.get(ccc_key(t)) for t in TARGETS} | {SELECTION_MEAN: scored[MEAN]}


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    store: str | None = None,
    splits: dict[str, SplitArrays] | None = None,
    out_dir: str | None = None,
    callbacks: Sequence[TrainingCallback] = (PrintProgress(),),
    resume: bool = True,
    label: str | None = None,
    selection: str = "validation",
    dev: tuple[float, int] = (0.0, 0),
) -> TrainResult:
    """Train on `splits` {"train", "selection"} (or those splits of the feature store `store`, the selection split
    being the store's split named `selection`; `dev`: (fraction, seed) of the training videos held out as split
    `dev`, tagf.data.splits).

    With `out_dir`, checkpoints go to <out_dir>/checkpoint/ and the best model to <out_dir>/model.pt, with
    history.json beside it; an existing checkpoint there is resumed unless `resume` is false. `label` (the set-up
    label of tagf.profiles.resolve, None: not said) is recorded in the model file.
    """
    if splits is None:
        if store is None:
            raise ValueError("train: give a feature store URL or the splits")
        loaded = load_splits(store, ("train", selection), *dev)  # with the corpus's ground-truth lags, if any
        splits = {"train": loaded["train"], "selection": loaded[selection]}
    if not splits["train"].label_valid.any():
        raise DataError("split 'train' has no labelled frame to train on")
    model_cfg = fit_model_config(model_cfg, train_cfg, splits["train"])
    device = resolve_device(train_cfg.device)
    windows = Windows(
        splits["train"],
        train_cfg.window,
        train_cfg.hop,
        oracle_alignment=model_cfg.audio_alignment == "oracle",
    )
    steps = -(-len(windows) // train_cfg.batch_size)
    run = _start(model_cfg, train_cfg, device, steps)
    checkpoint_dir = storage.join(out_dir, CHECKPOINT_DIR) if out_dir else None
    saved = load_checkpoint(checkpoint_dir) if checkpoint_dir and resume else None
    if saved is not None:
        run.restore(saved)
        print(f"resuming from {checkpoint_dir} after epoch {saved['epoch']}", flush=True)
    else:
        _fit_searches(run.model, splits)
    while run.epoch < train_cfg.epochs and run.stale < train_cfg.early_stop_patience:
        metrics = _epoch(run, windows, splits["selection"], train_cfg, device, callbacks, steps, selection)
        if checkpoint_dir:
            save_checkpoint(checkpoint_dir, run.state(model_cfg, train_cfg, label))
            for callback in callbacks:
                callback.on_checkpoint(checkpoint_dir)
        for callback in callbacks:
            callback.on_epoch_end(run.epoch, metrics)
    run.best.restore(run.model)
    run.model.eval()
    if out_dir:
        _write_outputs(run, out_dir, store, train_cfg, label, selection)
    return TrainResult(model=run.model, best=run.best.best(), history=run.history)


def _fit_searches(model: FusionModel, splits: dict[str, SplitArrays]) -> None:
    """Fit an offset search (tagf.models.offset_search) to the training and selection videos, unlabelled, before
    the first epoch."""
    for search in model.searches():
        search.fit(*(video_tensors(splits[name]) for name in ("train", "selection")))


def video_tensors(split: SplitArrays) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(visual, audio) of each video, as float32 tensors (copies: the store's arrays are read-only)."""
    rows = [slice(split.offsets[v], split.offsets[v + 1]) for v in range(len(split.videos))]
    return [
        (
            torch.tensor(split.visual[r], dtype=torch.float32),
            torch.tensor(split.audio[r], dtype=torch.float32),
        )
        for r in rows
    ]


def _start(model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device, steps: int) -> _Run:
    """A fresh run: the seeded model, its optimiser and schedule, nothing learned yet."""
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg).to(device)
    optimizer_type = torch.optim.AdamW if train_cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_type(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    targets = train_cfg.targets
    return _Run(
        model=model,
        optimizer=optimizer,
        schedule=LearningRateSchedule(optimizer, train_cfg, steps),
        best=BestWeights(model, targets),
        rng=np.random.default_rng(train_cfg.seed),
        history=[],
    )


def _epoch(
    run: _Run, windows, selection_split, train_cfg, device, callbacks, steps, selection
) -> dict[str, Any]:
    """Train one epoch, score the selection split, step the schedule, keep the best weights; its metrics."""
    epoch = run.epoch + 1
    fitted = _train_epoch(
        run.model, run.optimizer, run.schedule, windows, train_cfg, run.rng, device, callbacks, epoch, steps
    )
    metrics = {
        "epoch": epoch,
        **_score_selection(run.model, selection_split, train_cfg, device, epoch, selection),
        **fitted,
        "lr": run.optimizer.param_groups[0]["lr"],
    }
    run.schedule.after_epoch(metrics[SELECTION_MEAN])
    run.stale = 0 if run.best.update(metrics) else run.stale + 1
    if train_cfg.reload_best_each_epoch:  # the authors continue from the best weights after every epoch
        run.best.restore(run.model)
    metrics[best_key(SELECTION_MEAN)] = run.best.best()[SELECTION_MEAN]
    run.history.append(metrics)
    run.epoch = epoch
    return metrics


def _write_outputs(
    run: _Run, out_dir: str, store: str | None, train_cfg, label: str | None, selection: str
) -> None:
    """model.pt (the best weights, with what produced them) and history.json."""
    manifest = read_manifest(store) if store else {}
    extra = {
        "train": train_cfg.model_dump(),
        "best": run.best.best(),
        "setup": label,
        "selection_split": selection,
        "data_version": manifest.get("version"),
        "git_commit": git_commit(Path(__file__).parent),
        "environment": environment(),
    }
    save_model(run.model, storage.join(out_dir, "model.pt"), extra)
    storage.write_text(
        storage.join(out_dir, "history.json"), json.dumps(run.history, indent=1, allow_nan=False)
    )
