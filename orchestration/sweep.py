"""`tagf sweep`: Ray Tune + Optuna (TPE, seeded) + ASHA over the search space of params.yaml, tracked in MLflow.

One MLflow parent run per sweep, one child run per trial. The feature store is read once by the driver and shared
with every trial through the Ray object store (tune.with_parameters). Trials checkpoint through tune.Checkpoint,
failed ones are retried from their last checkpoint (FailureConfig), and `resume=True` continues an interrupted sweep
of the same settings (orchestration.resumption) keeping every completed trial. Outputs in `out_dir`:
best_config.json, trials.csv, best/model.pt, parent_run_id.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from orchestration.driver import Driver, start_driver
from orchestration.experiment import Experiment
from orchestration.params import Distribution, Params
from orchestration.provenance import log_environment, log_store, parent_run_name
from orchestration.resumption import fingerprint
from orchestration.trial import trial_setup
from tagf import storage
from tagf.models import save_model
from tagf.score_names import SELECTION_MEAN, best_key
from tagf.training.checkpoint import best_model_from_checkpoint

METRIC, MODE = SELECTION_MEAN, "max"


@dataclass
class SweepResult:
    best_config: dict[str, Any]  # {"variant", "model": {...}, "train": {...}} ready for training
    best_score: float
    trials: int
    parent_run_id: str
    model_path: str


def search_space(space: dict[str, Distribution]) -> dict[str, Any]:
    dims = {}
    for key, dist in space.items():
        kind, value = dist.kind()
        if kind == "choice":
            dims[key] = tune.choice([json.dumps(v) if isinstance(v, list) else v for v in value])
        else:
            dims[key] = getattr(tune, kind)(*value)
    return dims


def search_config(driver: Driver, num_samples: int, max_epochs: int) -> tune.TuneConfig:
    """`num_samples` trials suggested by Optuna's TPE (seeded), stopped early by ASHA, on val ccc_mean."""
    sweep = driver.params.sweep
    return driver.tune_config(
        metric=METRIC,
        mode=MODE,
        num_samples=num_samples,
        search_alg=OptunaSearch(metric=METRIC, mode=MODE, seed=sweep.seed),
        scheduler=ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=sweep.grace_period,
            reduction_factor=sweep.reduction_factor,
        ),
    )


def run_sweep(
    params: Params,
    store: str,
    out_dir: str,
    resume: bool = False,
    address: str | None = None,
    extra_callbacks: tuple = (),
) -> SweepResult:
    driver = start_driver(params, store, address)
    sweep = params.sweep
    fp = fingerprint(params, [driver.tags["data_version"]])
    experiment = Experiment(driver, sweep.name, "tagf sweep", fp, resume)
    run_name = parent_run_name(sweep.name, driver.tags)
    with experiment.parent(run_name, {"kind": "sweep", **driver.tags}):
        if not experiment.resumed:
            log_environment()
            log_store(store, driver.tags)
            mlflow.log_params({f"sweep.{k}": v for k, v in sweep.model_dump(exclude={"space"}).items()})
            mlflow.log_dict(
                {k: v.model_dump(exclude_none=True) for k, v in sweep.space.items()}, "search_space.json"
            )
        storage.write_text(str(Path(out_dir) / "parent_run_id"), experiment.run_id)
        context = driver.context(experiment.run_id, callbacks=tuple(extra_callbacks))
        results = experiment.fit(
            driver.trainable(context),
            sweep.num_samples,
            f"sweep {sweep.name}",
            param_space=search_space(sweep.space),
            tune_config=search_config(driver, sweep.num_samples, params.setup().train.epochs),
            run_config=driver.run_config(sweep.name),
        )
        best_config, score, trials, model_path = _write_best(results, driver, context, Path(out_dir))
    return SweepResult(best_config, score, trials, experiment.run_id, model_path)


def _write_best(results, driver: Driver, context, out_dir: Path) -> tuple[dict[str, Any], float, int, str]:
    """best_config.json, trials.csv and best/model.pt (the best trial's best epoch, its sha256 beside it and in
    best_config.json); logged to the parent run."""
    best = results.get_best_result(METRIC, MODE, scope="all")
    setup, variant = trial_setup(best.config, context)
    best_config = {
        "variant": variant,
        "setup": setup.label,
        "model": {k: v for k, v in setup.model.model_dump().items() if k != "outputs"},
        "train": setup.train.model_dump(),
        "trial": best.path.rsplit("/", 1)[-1],
        "mlflow_run_id": best.metrics.get("mlflow_run_id"),
    }
    frame = results.get_dataframe(filter_metric=METRIC, filter_mode=MODE)  # each trial's best epoch
    score = float(frame[METRIC].max())
    with tempfile.TemporaryDirectory() as tmp:
        model, extra = best_model_from_checkpoint(best.get_best_checkpoint(METRIC, MODE).to_directory(tmp))
    model_path = str(out_dir / "best" / "model.pt")
    extra = {**extra, **driver.tags, "variant": variant, "setup": setup.label}
    best_config["model_sha256"] = save_model(model, model_path, extra)  # also in best/model.pt.sha256
    storage.write_text(str(out_dir / "best_config.json"), json.dumps(best_config, indent=1, allow_nan=False))
    storage.write_text(str(out_dir / "trials.csv"), frame.to_csv(index=False))
    mlflow.log_metric(best_key(METRIC), score)
    mlflow.log_artifact(str(out_dir / "best_config.json"))
    mlflow.log_artifact(str(out_dir / "trials.csv"))
    return best_config, score, len(frame), model_path
