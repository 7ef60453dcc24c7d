"""What a sweep and an ablation driver do before and around their trials: check the tracking store (before any
training), connect to Ray, read the splits once, open the parent MLflow run, and build the Tune trainable and run
configuration the same way."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from orchestration.mlflow_trials import MlflowTrialCloser
from orchestration.params import Params
from orchestration.provenance import provenance_tags
from orchestration.ray_cluster import cluster_address, connect
from orchestration.tracking import setup
from orchestration.tracking_watch import TrackingWatch, bounded_retries, outage_bound_s
from orchestration.trial import TrialContext, run_trial
from tagf.data.splits import load_splits
from tagf.errors import ParamsError, StorageError


@dataclass(frozen=True)
class Driver:
    params: Params
    tracking_uri: str
    experiment_id: str
    tags: dict[str, str]  # provenance, on the parent and every child run
    splits: dict[str, Any]  # by role: train, selection[, report]

    def context(self, parent_run_id: str, **fields: Any) -> TrialContext:
        """The trials' context under `parent_run_id`; `fields` override the params' (e.g. an ablation's bases)."""
        params = self.params
        base = {
            "params": params,
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "parent_run_id": parent_run_id,
            "tags": self.tags,
            "threads": max(1, int(params.sweep.cpus_per_trial)),
        }
        return TrialContext(**{**base, **fields})

    def trainable(self, context: TrialContext, splits: dict[Any, Any] | None = None) -> Callable:
        """run_trial with the splits (default: the driver's; an ablation's: by corpus seed) put into the object store
        once, and each trial's CPU/GPU share. A trial's ray.get of the splits maps the node's shared memory without a
        copy (under a millisecond again on a reused actor), so the data crosses to each node once."""
        sweep = self.params.sweep
        return tune.with_resources(
            tune.with_parameters(
                run_trial, splits=self.splits if splits is None else splits, context=context
            ),
            {"cpu": sweep.cpus_per_trial, "gpu": sweep.gpus_per_trial},
        )

    def tune_config(self, max_concurrent: int | None = None, **options: Any) -> tune.TuneConfig:
        """At most `max_concurrent` (default sweep.max_concurrent) trials at once, each on an actor that a later trial
        reuses: its start-up and imports (seconds, more than a short trial trains) are paid once per actor, not once
        per trial."""
        return tune.TuneConfig(
            max_concurrent_trials=max_concurrent or self.params.sweep.max_concurrent,
            reuse_actors=True,
            **options,
        )

    def run_config(self, name: str) -> tune.RunConfig:
        sweep = self.params.sweep
        return tune.RunConfig(
            name=name,
            storage_path=sweep.storage,
            verbose=1,
            failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
            # A retry resumes from the latest checkpoint, which also holds the best weights: older ones are unused.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[
                MlflowTrialCloser(self.tracking_uri, self.tags),
                TrackingWatch(self.tracking_uri, outage_bound_s()),
            ],
        )

    def experiment_path(self, name: str) -> str:
        """Where Tune keeps the experiment `name` (and tagf its resumption state, orchestration.resumption)."""
        return f"{self.params.sweep.storage.rstrip('/')}/{name}"


def storage_path(configured: str, cluster: str | None) -> str:
    """sweep.storage as Ray wants it, an absolute local path or a URL, resolved while the working directory exists
    (a `ray job submit` driver's may be gone later). On a cluster a relative path cannot be shared: refused."""
    if "://" in configured or Path(configured).is_absolute():
        return configured
    if cluster:
        raise ParamsError(
            f"sweep.storage: {configured} is relative, but the trials run on the Ray cluster {cluster}: give "
            "--storage (or sweep.storage) a path every node mounts at the same place, or a URL (s3://...)"
        )
    try:
        return str(Path(configured).resolve())
    except OSError as err:
        raise StorageError(
            f"sweep.storage: {configured}: {err.strerror} (resolving it in the working directory)"
        ) from None


def start_driver(params: Params, store: str, address: str | None, report: bool = False) -> Driver:
    """`params` with sweep.storage resolved (storage_path): the driver's, for everything it starts."""
    outage_bound_s()  # a bad TAGF_TRACKING_OUTAGE_S fails here, before anything starts
    storage = storage_path(params.sweep.storage, cluster_address(address, params.sweep.address))
    params = params.model_copy(update={"sweep": params.sweep.model_copy(update={"storage": storage})})
    # A failed trial is one line (MlflowTrialCloser), its traceback in the trial's error.txt, not pages of output.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    # ... and a trial stopped by an interruption is not printed again as an unretrieved Ray error.
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    # MLflow draws a progress bar for every artifact it reads back (one per trial at collection): noise in a log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    workers_env = bounded_retries()  # before the first MLflow call of any process of the job
    uri, experiment_id = setup(
        params.mlflow.tracking_uri, params.mlflow.experiment
    )  # fails before any training
    sweep = params.sweep
    concurrent = max(sweep.max_concurrent, params.ablate.max_concurrent or 0)
    connect(address, sweep.address, num_cpus=max(1, int(concurrent * sweep.cpus_per_trial)), env=workers_env)
    return Driver(params, uri, experiment_id, provenance_tags(store), load_roles(params, store, report))


def load_roles(params: Params, store: str, report: bool = False) -> dict[str, Any]:
    """A store's splits by role: train, selection[, report]."""
    roles = params.splits
    names = ("train", roles.selection, *((roles.report,) if report else ()))
    loaded = load_splits(store, names, roles.dev_fraction, roles.dev_seed)
    splits = {"train": loaded["train"], "selection": loaded[roles.selection]}
    if report:
        splits["report"] = loaded[roles.report]
    return splits
