"""MLflow tracking: where runs go, a check that it is reachable, and a training callback that logs epochs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tagf.errors import TrackingError
from tagf.score_names import SELECTION_SCORES
from tagf.training.callbacks import TrainingCallback

EPOCH_METRICS = ("train_loss", *SELECTION_SCORES, "lr")
PENDING_FILE = "pending_metrics.json"  # in a trial's checkpoint: epochs an outage kept from MLflow


def resolve_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI, else params' URI; relative sqlite/file paths are made absolute (Ray trials change
    directory, so they would otherwise open another database)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())
    if "://" not in uri:
        return str(Path(uri).resolve())
    return uri


def ensure_reachable(uri: str) -> None:
    """Fail before any training if the tracking store cannot be reached."""
    if uri.startswith(("http://", "https://")):
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=5).raise_for_status()
        except requests.RequestException as err:
            raise TrackingError(
                f"MLflow tracking server {uri} is unreachable ({type(err).__name__})"
            ) from None
    elif uri.startswith("sqlite:///"):
        parent = Path(uri[len("sqlite:///") :]).parent
        if not parent.is_dir():
            raise TrackingError(f"MLflow tracking store {uri}: directory {parent} does not exist")


@contextlib.contextmanager
def _creating(uri: str) -> Iterator[None]:
    """While this process may create a SQLite store (MLflow migrates a new database's tables on first use) or its
    experiment: other tagf processes wait, so two users starting on a new mlflow.db do not race its migration."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(uri[len("sqlite:///") :] + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def setup(configured_uri: str, experiment: str) -> tuple[str, str]:
    """Point MLflow at the store (checked) and the experiment; returns (uri, experiment id). A store that refuses
    (a server answering 5xx, a database it cannot open) is a TrackingError naming it, before any training."""
    uri = resolve_uri(configured_uri)
    ensure_reachable(uri)
    mlflow.set_tracking_uri(uri)
    try:
        with _creating(uri):
            found = mlflow.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else mlflow.create_experiment(experiment)
    except (MlflowException, requests.RequestException) as err:
        message = getattr(err, "message", None) or str(err) or type(err).__name__
        raise TrackingError(f"MLflow tracking store {uri}: {message.splitlines()[0][:300]}") from None
    return uri, experiment_id


class MlflowEpochLogger(TrainingCallback):
    """Logs each epoch's metrics to one run, by id (safe in Ray workers: no global active run), in one request.

    A tracking outage does not fail the trial: what could not be logged waits in the trial's checkpoint
    (PENDING_FILE, written before Tune takes the checkpoint) and goes first with the next epoch that can be logged,
    in this process or in the one that resumes the trial from that checkpoint. So an outage stops the experiment
    the way an interruption does (orchestration.tracking_watch), with its trials unfinished rather than failed, and a
    resumed sweep sees the same trials, the same ASHA decisions and the same winner as one never interrupted."""

    def __init__(self, client: MlflowClient, run_id: str, restored: Path | None = None):
        self.client, self.run_id, self.checkpoint = client, run_id, None
        pending = restored / PENDING_FILE if restored is not None else None
        self.pending: list[dict] = json.loads(pending.read_text()) if pending and pending.exists() else []

    def on_checkpoint(self, path: str) -> None:
        self.checkpoint = path

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        now_ms = int(time.time() * 1000)
        self.pending += [
            {"key": key, "value": float(metrics[key]), "timestamp": now_ms, "step": epoch}
            for key in EPOCH_METRICS
            if metrics[key] is not None  # None: a target this model does not predict
        ]
        try:
            self.client.log_batch(self.run_id, metrics=[Metric(**m) for m in self.pending])
            self.pending = []
        except (MlflowException, requests.RequestException) as err:
            message = getattr(err, "message", None) or type(err).__name__
            print(
                f"warning: epoch {epoch} not logged to MLflow run {self.run_id} yet ({message.splitlines()[0][:120]}); "
                "kept with the checkpoint, logged once the tracking server answers",
                flush=True,
            )
        if self.checkpoint:  # the checkpoint Tune is about to take holds what is still owed
            (Path(self.checkpoint) / PENDING_FILE).write_text(json.dumps(self.pending))


def log_json(client: MlflowClient, run_id: str, name: str, payload: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(payload, indent=1, default=float, allow_nan=False))
        client.log_artifact(run_id, str(path))
