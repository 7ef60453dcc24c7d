"""How a training run reports: callers plug in (Ray Tune, MLflow); the default prints progress.

Per epoch the trainer calls `on_checkpoint(path)` once the epoch's checkpoint is written, then
`on_epoch_end(epoch, metrics)`; so a reporter can attach the latest checkpoint to the epoch's metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

from tagf.score_names import SELECTION_MEAN, TARGETS, ccc_key, val_key


class TrainingCallback:
    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        """`metrics`: train_loss, val_ccc_valence, val_ccc_arousal, val_ccc_mean, lr, best_val_ccc_mean...

        All finite (the trainer stops on NaN or infinity); val_ccc_<target> is None for a target the model does not
        predict.
        """

    def on_checkpoint(self, path: str) -> None:
        """`path`: the directory holding the checkpoint of the epoch just finished."""

    def progress(self, iterable: Iterable, total: int, epoch: int) -> Iterable:
        """Wraps each epoch's batches; the default shows nothing."""
        return iterable


class PrintProgress(TrainingCallback):
    """A progress bar over each epoch's batches and one line per epoch."""

    def progress(self, iterable, total, epoch):
        return tqdm(iterable, total=total, desc=f"epoch {epoch}", unit="batch", leave=False)

    def on_epoch_end(self, epoch, metrics):
        def ccc(key):
            return "-" if metrics[key] is None else f"{metrics[key]:.4f}"

        scores = "  ".join(f"{name} {ccc(val_key(ccc_key(name)))}" for name in TARGETS)
        print(
            f"epoch {epoch:3d}  loss {metrics['train_loss']:.4f}  val CCC {scores} mean {ccc(SELECTION_MEAN)}  "
            f"lr {metrics['lr']:.2e}",
            flush=True,
        )
