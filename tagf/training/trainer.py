"""`train()`: the one training loop, for the CLI, the DVC stage and Ray Tune trials alike.

Loss 1 − CCC per window; Adam/AdamW; linear warm-up, then ReduceLROnPlateau on validation CCC; early stopping; best
weights kept. Every epoch writes a checkpoint (model, optimiser, schedulers, RNG states, history) atomically, and a
run started again on the same output directory resumes after the last finished epoch and ends exactly as an
uninterrupted run would. It knows nothing of Ray or MLflow: they listen through callbacks.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_manifest, read_split
from tagf.data.windows import Windows
from tagf.evaluation.prediction import predict_frames
from tagf.evaluation.scoring import TARGETS, score
from tagf.metrics import ccc_loss
from tagf.models import FusionModel, ModelConfig, build_model, save_model
from tagf.provenance import git_commit
from tagf.training.callbacks import PrintProgress, TrainingCallback
from tagf.training.config import TrainConfig

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"


@dataclass
class TrainResult:
    model: FusionModel  # with the best weights, in eval mode
    best: dict[str, Any]  # the validation metrics of the best epoch
    history: list[dict[str, Any]]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device: cuda requested but no GPU is available")
    return torch.device(name)


def fit_model_config(model_cfg: ModelConfig, train_cfg: TrainConfig, split: SplitArrays) -> ModelConfig:
    """The model config with its input sizes and outputs checked against the data and the target."""
    dims = {"visual_in": split.visual.shape[1], "audio_in": split.audio.shape[1]}
    for field, size in dims.items():
        if getattr(model_cfg, field) != size:
            raise ValueError(f"model.{field} is {getattr(model_cfg, field)} but the feature store has {size}")
    if model_cfg.key_mode == "faithful" and model_cfg.window != train_cfg.window:
        raise ValueError(
            f"model.window ({model_cfg.window}) != train.window ({train_cfg.window}): faithful TAGF is fixed to its "
            "window; use the same length or key_mode=length_agnostic"
        )
    return model_cfg.model_copy(update={"outputs": len(train_cfg.target_columns)})


def _save_checkpoint(directory: str, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    storage.write_bytes(storage.join(directory, CHECKPOINT_FILE), buffer.getvalue())


def _load_checkpoint(directory: str) -> dict[str, Any] | None:
    url = storage.join(directory, CHECKPOINT_FILE)
    if not storage.exists(url):
        return None
    return torch.load(io.BytesIO(storage.read_bytes(url)), map_location="cpu", weights_only=False)


def best_model_from_checkpoint(directory: str) -> tuple[FusionModel, dict[str, Any]]:
    """The best weights so far of the run whose checkpoint directory this is, with its configs and best metrics."""
    saved = _load_checkpoint(directory)
    if saved is None:
        raise FileNotFoundError(f"{directory}: no training checkpoint ({CHECKPOINT_FILE})")
    model = build_model(ModelConfig(**saved["model_config"]))
    model.load_state_dict(saved["best_state"])
    extra = {"train": saved["train_config"], "best": saved["best"], "history": saved["history"]}
    return model.eval(), extra


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    store: str | None = None,
    splits: dict[str, SplitArrays] | None = None,
    out_dir: str | None = None,
    callbacks: Sequence[TrainingCallback] = (PrintProgress(),),
    resume: bool = True,
) -> TrainResult:
    """Train on `splits` (or the train/validation splits of the feature store `store`).

    With `out_dir`, checkpoints go to <out_dir>/checkpoint/ and the best model to <out_dir>/model.pt, with
    history.json beside it; an existing checkpoint there is resumed unless `resume` is false.
    """
    if splits is None:
        if store is None:
            raise ValueError("train: give a feature store URL or the splits")
        splits = {name: read_split(store, name) for name in ("train", "validation")}
    train_split, val_split = splits["train"], splits["validation"]
    model_cfg = fit_model_config(model_cfg, train_cfg, train_split)
    device = resolve_device(train_cfg.device)
    columns, targets = train_cfg.target_columns, [TARGETS[c] for c in train_cfg.target_columns]
    torch.manual_seed(train_cfg.seed)
    rng = np.random.default_rng(train_cfg.seed)
    model = build_model(model_cfg).to(device)
    optimizer_type = torch.optim.AdamW if train_cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_type(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    windows = Windows(train_split, train_cfg.window, train_cfg.hop)
    steps_per_epoch = -(-len(windows) // train_cfg.batch_size)
    warmup_steps = int(round(train_cfg.warmup_epochs * steps_per_epoch))
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=max(1, warmup_steps))
    if warmup_steps == 0:
        warmup.last_epoch = 1  # no warm-up: leave the lr alone
        for group in optimizer.param_groups:
            group["lr"] = train_cfg.lr
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=train_cfg.plateau_factor, patience=train_cfg.plateau_patience
    )
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=train_cfg.amp and device.type == "cuda"
    )

    checkpoint_dir = storage.join(out_dir, CHECKPOINT_DIR) if out_dir else None
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_ccc_mean": -np.inf}
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    step, first_epoch, stale = 0, 1, 0
    saved = _load_checkpoint(checkpoint_dir) if checkpoint_dir and resume else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        warmup.load_state_dict(saved["warmup"])
        plateau.load_state_dict(saved["plateau"])
        best_state, best, history = saved["best_state"], saved["best"], saved["history"]
        step, first_epoch, stale = saved["step"], saved["epoch"] + 1, saved["stale"]
        rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        print(f"resuming from {checkpoint_dir} after epoch {saved['epoch']}", flush=True)

    for epoch in range(first_epoch, train_cfg.epochs + 1):
        if stale >= train_cfg.early_stop_patience:
            break
        model.train()
        started, losses, frames = time.perf_counter(), [], 0
        batches = windows.batches(train_cfg.batch_size, rng, max_audio_shift=train_cfg.max_audio_shift)
        for progress in callbacks:
            batches = progress.progress(batches, steps_per_epoch, epoch)
        for batch in batches:
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                prediction = model(batch.visual, batch.audio, batch.frame_mask).prediction
            loss = ccc_loss(prediction.float(), batch.labels[..., columns], batch.label_mask)
            loss.backward()
            optimizer.step()
            step += 1
            if step <= warmup_steps:
                warmup.step()
            losses.append(loss.item())
            frames += int(batch.frame_mask.sum())
        train_seconds = time.perf_counter() - started
        val = score(
            predict_frames(model, val_split, train_cfg.window, train_cfg.hop, device=device).values,
            val_split,
            targets,
        )
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            **{f"val_ccc_{t}": val.get(f"ccc_{t}", float("nan")) for t in TARGETS},
            "val_ccc_mean": val["ccc_mean"],
            "lr": optimizer.param_groups[0]["lr"],
            "train_frames_per_s": frames / train_seconds if train_seconds > 0 else float("nan"),
        }
        if step > warmup_steps:
            plateau.step(val["ccc_mean"])
        if val["ccc_mean"] > best["val_ccc_mean"]:
            best, stale = dict(metrics), 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        metrics["best_val_ccc_mean"] = best["val_ccc_mean"]
        history.append(metrics)
        if checkpoint_dir:
            _save_checkpoint(
                checkpoint_dir,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "warmup": warmup.state_dict(),
                    "plateau": plateau.state_dict(),
                    "best_state": best_state,
                    "best": best,
                    "history": history,
                    "step": step,
                    "epoch": epoch,
                    "stale": stale,
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "model_config": model_cfg.model_dump(),
                    "train_config": train_cfg.model_dump(),
                },
            )
            for callback in callbacks:
                callback.on_checkpoint(checkpoint_dir)
        for callback in callbacks:
            callback.on_epoch_end(epoch, metrics)

    model.load_state_dict(best_state)
    model.eval()
    if out_dir:
        manifest = read_manifest(store) if store else {}
        extra = {
            "train": train_cfg.model_dump(),
            "best": best,
            "data_version": manifest.get("version"),
            "git_commit": git_commit(Path(__file__).parent),
        }
        save_model(model, storage.join(out_dir, "model.pt"), extra)
        storage.write_text(storage.join(out_dir, "history.json"), json.dumps(history, indent=1))
    return TrainResult(model=model, best=best, history=history)
