"""Driver-side Tune callback: when a trial ends (finished or stopped early by ASHA), close its MLflow child run
with the trial's best model, metrics JSON and validation-curve PNG; mark errored trials FAILED."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.pyfunc_model import log_tagf_model
from orchestration.tracking import log_json
from tagf.evaluation.figures import history_figure
from tagf.training.checkpoint import best_model_from_checkpoint


class MlflowTrialCloser(tune.Callback):
    def __init__(self, tracking_uri: str, extra_tags: dict[str, str]):
        self.uri, self.tags = tracking_uri, extra_tags

    def on_trial_complete(self, iteration, trials, trial, **info):
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if not run_id or trial.checkpoint is None:
            return
        client = MlflowClient(self.uri)
        with tempfile.TemporaryDirectory() as tmp:
            model, extra = best_model_from_checkpoint(trial.checkpoint.to_directory(tmp))
            log_tagf_model(model, {**extra, **self.tags}, run_id)
            log_json(client, run_id, "metrics.json", extra["best"])
            history_figure({trial.trial_id: extra["history"]}, str(Path(tmp) / "val_ccc.png"))
            client.log_artifact(run_id, str(Path(tmp) / "val_ccc.png"))
        client.log_metric(run_id, "best_val_ccc_mean", float(extra["best"]["val_ccc_mean"]))
        client.set_terminated(run_id, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if run_id:
            MlflowClient(self.uri).set_terminated(run_id, "FAILED")
