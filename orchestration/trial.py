"""A Ray Tune trial: the same `tagf.training.train`, with Tune and MLflow listening through callbacks."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.tracking import MlflowEpochLogger
from tagf.profiles import describe
from tagf.training.callbacks import TrainingCallback
from tagf.training.checkpoint import CHECKPOINT_DIR
from tagf.training.config import TrainConfig
from tagf.training.trainer import train

RUN_ID_FILE = "mlflow_run_id"


class TuneReporter(TrainingCallback):
    """Reports each epoch to Tune with the checkpoint written just before it (so retries and ASHA work)."""

    def __init__(self, run_id: str):
        self.run_id, self.checkpoint = run_id, None

    def on_checkpoint(self, path: str) -> None:
        self.checkpoint = path

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        checkpoint = tune.Checkpoint.from_directory(self.checkpoint) if self.checkpoint else None
        tune.report({**metrics, "mlflow_run_id": self.run_id}, checkpoint=checkpoint)


def decode(value: Any) -> Any:
    """Search-space values that are lists travel as JSON strings (Optuna's categories must be scalars)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def configs_for(config: dict[str, Any], base_model: dict[str, Any], base_train: dict[str, Any]):
    """(ModelParams-like overrides, TrainConfig) of a trial: the base sections with the trial's 'model.x'/'train.x'."""
    from tagf.models import model_config

    model = dict(base_model)
    train_fields = dict(base_train)
    for key, value in config.items():
        section, _, field = key.partition(".")
        (model if section == "model" else train_fields)[field] = decode(value)
    variant = model.pop("variant", "tagf")
    return model_config(variant, **model), TrainConfig(**train_fields), variant


def open_child_run(
    settings: dict[str, Any],
    restored: Path | None,
    name: str,
    variant: str,
    params: dict[str, Any],
    profile: str,
) -> str:
    """The trial's MLflow run under the parent: reused when Tune retries or restores the trial."""
    if restored is not None and (restored / RUN_ID_FILE).exists():
        return (restored / RUN_ID_FILE).read_text().strip()
    client = MlflowClient(settings["tracking_uri"])
    run = client.create_run(
        settings["experiment_id"],
        run_name=name,
        tags={
            "mlflow.parentRunId": settings["parent_run_id"],
            "variant": variant,
            "profile": profile,
            **settings["tags"],
        },
    )
    for key, value in params.items():
        client.log_param(run.info.run_id, key, str(value)[:6000])
    return run.info.run_id


def run_trial(config: dict[str, Any], splits: dict, settings: dict[str, Any]) -> None:
    """Trainable: `splits` arrive from the Ray object store (put there once by tune.with_parameters)."""
    model_cfg, train_cfg, variant = configs_for(config, settings["model"], settings["train"])
    work = Path(tempfile.mkdtemp(prefix="tagf-trial-"))
    restored = None
    if (checkpoint := tune.get_checkpoint()) is not None:
        restored = Path(checkpoint.to_directory(str(work / CHECKPOINT_DIR)))
    context = tune.get_context()
    run_id = open_child_run(
        settings,
        restored,
        context.get_trial_name(),
        variant,
        {
            **{f"model.{k}": v for k, v in model_cfg.model_dump().items()},
            **{f"train.{k}": v for k, v in train_cfg.model_dump().items()},
        },
        describe(settings["profile"], model_cfg, train_cfg),
    )
    (work / CHECKPOINT_DIR).mkdir(exist_ok=True)
    (work / CHECKPOINT_DIR / RUN_ID_FILE).write_text(run_id)
    callbacks: list[TrainingCallback] = [
        MlflowEpochLogger(settings["tracking_uri"], run_id),
        TuneReporter(run_id),
    ]
    callbacks += settings.get("extra_callbacks", [])
    train(
        model_cfg,
        train_cfg,
        splits=splits,
        out_dir=str(work),
        callbacks=callbacks,
        profile=settings["profile"],
        selection=settings["selection_split"],
    )
    shutil.rmtree(work, ignore_errors=True)
