"""Driver-side Tune callback: when a trial ends (finished or stopped early by ASHA), close its MLflow child run
with the trial's best model, metrics JSON and validation-curve PNG; mark errored trials FAILED, and say in one line
why a trial failed.

Closing a run takes seconds (the model is logged as a pyfunc and checked against its input example), so it runs on
one background thread while Tune starts the next trial; the experiment ends once every run is closed. A tracking
error while closing never stops Tune: it is printed, the trial's result is kept, and `close_unfinished` closes the
run once the experiment's results are collected (at its end, or when it is resumed)."""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.pyfunc_model import log_tagf_model
from orchestration.resumption import reopen
from orchestration.tracking import log_json
from tagf.evaluation.figures import history_figure
from tagf.score_names import SELECTION_MEAN, best_key
from tagf.training.checkpoint import best_model_from_checkpoint

TRACKING_ERRORS = (MlflowException, requests.RequestException)


def close_run(
    uri: str, tags: dict[str, str], run_id: str, checkpoint: tune.Checkpoint, trial_id: str
) -> None:
    client = MlflowClient(uri)
    with tempfile.TemporaryDirectory() as tmp:
        model, extra = best_model_from_checkpoint(checkpoint.to_directory(tmp))
        log_tagf_model(model, {**extra, **tags}, run_id)
        log_json(client, run_id, "metrics.json", extra["best"])
        history_figure({trial_id: extra["history"]}, str(Path(tmp) / "val_ccc.png"))
        client.log_artifact(run_id, str(Path(tmp) / "val_ccc.png"))
    client.log_metric(run_id, best_key(SELECTION_MEAN), float(extra["best"][SELECTION_MEAN]))
    client.set_terminated(run_id, "FINISHED")


def _kept(what: str, run_id: str, call, *args) -> None:
    """Run a tracking call; a tracking error is one printed line, never an exception in Tune's loop."""
    try:
        call(*args)
    except TRACKING_ERRORS as err:
        message = getattr(err, "message", None) or type(err).__name__
        print(
            f"warning: could not {what} MLflow run {run_id} ({message.splitlines()[0]}); the trial's result is "
            "kept and its run closed when the results are collected",
            flush=True,
        )


def _last_line(trial) -> str:
    """What a failed trial's traceback ends with, and where the whole of it is (Tune prints none: driver.py)."""
    path = trial.error_file
    lines = Path(path).read_text().strip().splitlines() if path and Path(path).exists() else []
    return f"{lines[-1] if lines else 'no error recorded'} (traceback: {path})"


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
            args = (self.uri, self.tags, run_id, trial.checkpoint, trial.trial_id)
            self.closing.append(self.executor.submit(_kept, "close", run_id, close_run, *args))

    def on_trial_recover(self, iteration, trials, trial, **info):
        print(
            f"trial {trial.trial_id} failed, retried from its last checkpoint: {_last_line(trial)}",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"trial {trial.trial_id} failed: {_last_line(trial)}", flush=True)
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if run_id:
            _kept("mark FAILED", run_id, MlflowClient(self.uri).set_terminated, run_id, "FAILED")

    def on_experiment_end(self, trials, **info):
        self.executor.shutdown(wait=True)
        for closed in self.closing:
            closed.result()


def close_unfinished(uri: str, tags: dict[str, str], results) -> None:
    """Close the runs of finished trials that are not FINISHED yet (their closing failed, or the driver stopped
    while closing them)."""
    client = MlflowClient(uri)
    for result in results:
        run_id = result.metrics.get("mlflow_run_id")
        if result.error is None and run_id and result.checkpoint is not None:
            if client.get_run(run_id).info.status != "FINISHED":
                reopen(client, run_id)
                close_run(uri, tags, run_id, result.checkpoint, result.path.rsplit("/", 1)[-1])
