"""Driver-side Tune callback: when a trial ends (finished or stopped early by ASHA), close its MLflow child run
with the trial's best model, metrics JSON and validation-curve PNG; mark errored trials FAILED.

Closing a run takes seconds (the model is logged as a pyfunc and checked against its input example), so it runs on
one background thread while Tune starts the next trial; the experiment ends once every run is closed, raising the
first error of any."""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.pyfunc_model import log_tagf_model
from orchestration.tracking import log_json
from tagf.evaluation.figures import history_figure
from tagf.score_names import SELECTION_MEAN, best_key
from tagf.training.checkpoint import best_model_from_checkpoint


class MlflowTrialCloser(tune.Callback):
    def __init__(self, tracking_uri: str, extra_tags: dict[str, str]):
        self.uri, self.tags = tracking_uri, extra_tags

    def __getstate__(self):
        # Tune pickles its callbacks into the experiment (tuner.pkl), before setup; a thread does not pickle.
        return {"uri": self.uri, "tags": self.tags}

    def setup(self, **info):
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.closing: list[Future] = []

    def on_trial_complete(self, iteration, trials, trial, **info):
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if run_id and trial.checkpoint is not None:
            self.closing.append(self.executor.submit(self._close, run_id, trial.checkpoint, trial.trial_id))

    def _close(self, run_id: str, checkpoint: tune.Checkpoint, trial_id: str) -> None:
        client = MlflowClient(self.uri)
        with tempfile.TemporaryDirectory() as tmp:
            model, extra = best_model_from_checkpoint(checkpoint.to_directory(tmp))
            log_tagf_model(model, {**extra, **self.tags}, run_id)
            log_json(client, run_id, "metrics.json", extra["best"])
            history_figure({trial_id: extra["history"]}, str(Path(tmp) / "val_ccc.png"))
            client.log_artifact(run_id, str(Path(tmp) / "val_ccc.png"))
        client.log_metric(run_id, best_key(SELECTION_MEAN), float(extra["best"][SELECTION_MEAN]))
        client.set_terminated(run_id, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if run_id:
            MlflowClient(self.uri).set_terminated(run_id, "FAILED")

    def on_experiment_end(self, trials, **info):
        self.executor.shutdown(wait=True)
        for closed in self.closing:
            closed.result()
