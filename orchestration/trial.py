"""One Ray Tune trial, for sweeps and ablations alike: the same `tagf.training.train`, with Tune and MLflow
listening through callbacks.

A trial is a Tune config (its 'model.x' / 'train.x' values) over a frozen TrialContext: what to train, where to
log, which splits. The runner trains, reports every epoch to Tune with its checkpoint, logs to one MLflow child run,
and, for an ablation, scores the report split and the robustness grid. A retried or restored trial resumes from its
last checkpoint and reuses its child run (the run id travels in the checkpoint). Its work directory is removed in
`finally`, whatever happens, and by the node's next trial if its process was killed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.resumption import reopen
from orchestration.tracking import MlflowEpochLogger, log_json
from orchestration.tracking_watch import CHECK_EVERY_S, healthy, outage_bound_s
from tagf import runtime
from tagf.errors import ModelFileError
from tagf.evaluation.evaluate import LoadedModel
from tagf.models.variants import Variant, variant_of
from tagf.params import RunParams, Setup
from tagf.score_names import SCORES
from tagf.study.cells import plain, pooled
from tagf.study.protocol import Protocol, score_run
from tagf.training.callbacks import TrainingCallback
from tagf.training.checkpoint import CHECKPOINT_DIR, load_checkpoint
from tagf.training.trainer import train

RUN_ID_FILE = "mlflow_run_id"
WORK_PREFIX = (
    "tagf-trial-"  # a trial's work directory in the node's temp directory: tagf-trial-<pid>-<random>
)
CELLS_ARTIFACT = "cells.json"  # the protocol's per-video cells (tagf.study.cells) of the trial's model
CORPUS_SEED = "data.corpus_seed"  # an ablation trial's corpus: its splits and report are that corpus's
CELL = "ablation.cell"  # an ablation trial's cell of the grid: its variant, seeds, corpus and levels, as one value
AA_COPY = "ablation.aa_copy"  # in a cell: the A/A copy of its variant (tagf.models.variants.Variant)


@dataclass(frozen=True)
class Report:
    """What an ablation trial scores after training (tagf.study.protocol), with the corpus's provenance."""

    protocol: Protocol
    data_tags: dict[
        str, str
    ]  # the corpus's provenance (orchestration.provenance.data_tags), over the context's tags


@dataclass(frozen=True)
class TrialContext:
    params: (
        RunParams  # the science's settings of the run; a trial's 'model.x' / 'train.x' values go over them
    )
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    tags: dict[str, str]
    threads: int = 1  # torch threads: the CPUs Ray gives the trial (sweep.cpus_per_trial), never more
    report: dict[int, Report] | None = None  # an ablation's, by corpus seed (config CORPUS_SEED picks one)
    callbacks: tuple[TrainingCallback, ...] = field(default=())
    varying: tuple[str, ...] | None = None  # an ablation's grid keys that vary: what a trial's name says


class TuneReporter(TrainingCallback):
    """Reports each epoch to Tune with the checkpoint written just before it (so retries and ASHA work)."""

    def __init__(self, run_id: str):
        self.run_id, self.checkpoint = run_id, None

    def on_checkpoint(self, path: str) -> None:
        self.checkpoint = path

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        checkpoint = tune.Checkpoint.from_directory(self.checkpoint) if self.checkpoint else None
        tune.report({**metrics, "mlflow_run_id": self.run_id}, checkpoint=checkpoint)


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config with an ablation's grid cell spread into its keys."""
    return {**{k: v for k, v in config.items() if k != CELL}, **config.get(CELL, {})}


def decode(value: Any) -> Any:
    """Search-space values that are lists travel as JSON strings (Optuna's categories must be scalars)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def trial_setup(config: dict[str, Any], context: TrialContext) -> tuple[Setup, str]:
    """(Setup, name) of a trial: the context's params resolved with the trial's values as flags
    (tagf.params.RunParams.setup). An ablation trial picks its variant (and whether it is the A/A copy) and is named
    by it; a sweep trial is named after what its values make of the base variant (`gate=fc` makes tagf GRJCA)."""
    values = {key: decode(value) for key, value in config.items() if key not in (CORPUS_SEED, AA_COPY)}
    picked = values.pop("model.variant", None)
    variant = None if picked is None else Variant(picked, bool(config.get(AA_COPY, False)))
    sections: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for key, value in values.items():
        section, _, name = key.partition(".")
        sections[section][name] = value
    setup = context.params.setup(variant, sections["model"], sections["train"])
    return setup, variant.label if variant is not None else variant_of(setup.model)


SHORT = {  # how a run's name says a setting: the name column of MLflow's runs table shows about 20 characters
    "train.seed": "s",
    CORPUS_SEED: "c",
    "train.max_audio_shift": "aug",
    "model.key_mode": "",
    "train.lr": "lr=",
    "train.weight_decay": "wd=",
    "model.attention_dropout": "drop=",
    "model.temperature": "τ=",
    "model.steps": "steps=",
}


def _short(key: str, value: Any) -> str:
    text = f"{value:.2g}" if isinstance(value, float) else str(value)
    return f"{SHORT.get(key, key.partition('.')[2] + '=')}{text}"


def trial_name(variant: str, config: dict[str, Any], varying: tuple[str, ...] | None) -> str:
    """What the trial is, short, what tells it from its siblings first: an ablation's variant and the levels of
    its grid that vary (`varying`), `jca c3` or `tagf s1 c3 aug15`; a sweep's model and the values it sampled,
    `grjca lr=0.0012 wd=3.4e-05 ...` (the gate and steps are in the model's name already)."""
    keys = varying if varying is not None else [k for k in config if k not in ("model.gate", "model.steps")]
    return " ".join([variant, *(_short(k, config[k]) for k in keys if k in config and k != "model.variant")])


def _child_run(
    client: MlflowClient,
    context: TrialContext,
    restored: Path | None,
    name: str,
    variant: str,
    params: dict,
    label: str,
) -> str:
    """The trial's MLflow run under the parent: reused when Tune retries or restores the trial. During a tracking
    outage it waits for the server (twice the outage bound at most: the driver stops the experiment at the bound,
    and a trial stopped while it waits has reported nothing, so it starts again cleanly on resume)."""
    _wait_for_tracking(context.tracking_uri, 2 * outage_bound_s())
    if restored is not None and (restored / RUN_ID_FILE).exists():
        run_id = (restored / RUN_ID_FILE).read_text().strip()
        reopen(client, run_id)  # an interrupted experiment's start closed it
        return run_id
    run = client.create_run(
        context.experiment_id,
        run_name=name,
        tags={
            "mlflow.parentRunId": context.parent_run_id,
            "variant": variant,
            "group": variant,  # the ablation sets its table's model label once the grid is scored
            "setup": label,
            **context.tags,
        },
    )
    # One request for every param: one log_param each costs about a second per trial on SQLite.
    client.log_batch(run.info.run_id, params=[Param(key, str(value)) for key, value in params.items()])
    return run.info.run_id


def _wait_for_tracking(uri: str, bound_s: float) -> None:
    deadline = time.monotonic() + bound_s
    while uri.startswith(("http://", "https://")) and not healthy(uri) and time.monotonic() < deadline:
        time.sleep(CHECK_EVERY_S)


def _score_report(client: MlflowClient, run_id: str, setup: Setup, result, split, report: Report) -> dict:
    """Score the trained model by the protocol; log its cells (artifact) and plain pooled CCC (metrics)."""
    loaded = [LoadedModel(result.model, setup.train.targets, setup.train.window, setup.train.hop)]
    cells = score_run(loaded, split, report.protocol, setup.train.seed)
    scores = pooled(plain(pd.DataFrame(cells)))
    for key in SCORES:
        client.log_metric(run_id, f"report_{key}", scores[key])
    log_json(client, run_id, CELLS_ARTIFACT, cells)
    return {f"report_{k}": scores[k] for k in SCORES}


def _remove_orphaned_work() -> None:
    """Work directories of trial processes that no longer exist (killed: their `finally` never ran)."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = path.name[len(WORK_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _usable(restored: Path) -> Path:
    """The restored checkpoint, or, if it fails its sha256 (a damaged file), the trial started over from its first
    epoch in the same child run (its run id is kept): every later resume would otherwise fail on the same file."""
    try:
        load_checkpoint(str(restored))
    except ModelFileError as err:
        print(
            f"warning: {' '.join(str(err).split())[:300]}; this trial starts over from its first epoch",
            flush=True,
        )
        for path in restored.iterdir():
            if path.name != RUN_ID_FILE:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return restored


def run_trial(config: dict[str, Any], splits: dict, context: TrialContext) -> None:
    """Trainable: `splits` ({"train", "selection"}, or an ablation's {corpus seed: {"train", "selection", "report"}})
    arrive from the Ray object store, put there once."""
    runtime.use_threads(context.threads)  # trials that share a node's cores never oversubscribe them
    config, report = flat_config(config), None
    if context.report is not None:
        corpus = config[CORPUS_SEED]
        splits, report = splits[corpus], context.report[corpus]
        context = replace(context, tags={**context.tags, **report.data_tags, "corpus_seed": str(corpus)})
    setup, variant = trial_setup(config, context)
    _remove_orphaned_work()
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    try:
        restored = None
        if (checkpoint := tune.get_checkpoint()) is not None:
            restored = _usable(Path(checkpoint.to_directory(str(work / CHECKPOINT_DIR))))
        params = {
            **{f"model.{k}": v for k, v in setup.model.model_dump().items()},
            **{f"train.{k}": v for k, v in setup.train.model_dump().items()},
        }
        client = MlflowClient(context.tracking_uri)
        run_id = _child_run(
            client,
            context,
            restored,
            trial_name(variant, config, context.varying),
            variant,
            params,
            setup.label,
        )
        (work / CHECKPOINT_DIR).mkdir(exist_ok=True)
        (work / CHECKPOINT_DIR / RUN_ID_FILE).write_text(run_id)
        result = train(
            setup.model,
            setup.train,
            splits={"train": splits["train"], "selection": splits["selection"]},
            out_dir=str(work),
            callbacks=[MlflowEpochLogger(client, run_id, restored), TuneReporter(run_id), *context.callbacks],
            label=setup.label,
            selection=setup.splits.selection,
        )
        if report is not None:
            scores = _score_report(client, run_id, setup, result, splits["report"], report)
            tune.report({**scores, "mlflow_run_id": run_id, "setup": setup.label})
    finally:
        shutil.rmtree(work, ignore_errors=True)
