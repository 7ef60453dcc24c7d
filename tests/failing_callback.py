"""A training callback that fails the first time it sees epoch 1 (for the trial-retry test)."""

from pathlib import Path

from tagf.training.callbacks import TrainingCallback


class FailOnce(TrainingCallback):
    def __init__(self, marker: str):
        self.marker = marker

    def on_epoch_end(self, epoch, metrics):
        if epoch == 1 and not Path(self.marker).exists():
            Path(self.marker).write_text("failed")
            raise RuntimeError("injected failure after epoch 1")
