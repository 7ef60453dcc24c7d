"""`tagf ablate`: every registered variant × training seeds × corpus seeds × shift augmentations × key modes, as Ray
Tune trials.

Each trial (orchestration.trial, the same runner as the sweep's) trains a variant — the variant's preset (fusion,
gate, steps) over the base settings, so only the fusion differs — then scores it on the report split, on the
robustness grid (audio shifts in seconds), within each frame category of the corpus masks, and reads its gates per
category. The base settings are params.yaml's model/train sections (`ablate.tuning: none`), or, with
`ablate.tuning: {trials: N}`, each variant's own Optuna study of N trials on the selection split (the same sweep.space
less what defines a variant or a level of the grid), so that no variant inherits another's tuning.

The driver aggregates (tagf.study): per variant and condition, intervals over runs and the paired per-video
comparison with the reference variant, as JSON and Markdown; the per-video scores of every run as Parquet; the
robustness figure (averaged over runs); the gate analysis as gates.json and gates.png. MLflow: one parent run, one
child per trial holding its artifacts; a tuning study is a nested run with its trials under it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.ablation_design import augment_frames, grid_cells, key_modes, plan, tuning_space
from orchestration.driver import Driver, load_roles, start_driver
from orchestration.experiment import Experiment, error_line
from orchestration.params import Params
from orchestration.provenance import data_tags, log_environment, log_store, parent_run_name
from orchestration.replicas import corpus_stores
from orchestration.resumption import fingerprint
from orchestration.sweep import METRIC, MODE, search_config, search_space
from orchestration.trial import AA_COPY, CELL, CELLS_ARTIFACT, CORPUS_SEED, Report, TrialContext, flat_config
from orchestration.verdict_runs import log_verdicts
from tagf import storage
from tagf.errors import DataError, RunError
from tagf.evaluation.figures import history_figure
from tagf.models.variants import Variant
from tagf.provenance import environment
from tagf.score_names import SELECTION_MEAN
from tagf.study.cells import write_cells
from tagf.study.compare import OUTPUTS as STUDY_OUTPUTS
from tagf.study.compare import compare
from tagf.study.protocol import Protocol
from tagf.study.tables import primary_rows

EXPERIMENT = "tagf-ablation"  # the Ray experiment, in sweep.storage
# Everything an ablation writes: the per-video scores, what they were made with, the training curves, and every
# table and figure of the study (tagf.study.compare); each is logged to the ablation's parent run too.
OUTPUTS = ("per_video.parquet", "provenance.json", "history.json", "val_ccc.png", *STUDY_OUTPUTS)


def _artifact(client: MlflowClient, run_id: str, name: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text())


def _tune_variants(
    driver: Driver, context: TrialContext, space: dict[str, Any], grid: dict[str, Any], ablation: Experiment
) -> dict[str, dict[str, Any]]:
    """{variant: its best values of `space`}: one Optuna study (with ASHA) per variant, on the selection split, at
    the first level of each grid factor. Each study is a nested MLflow run with its trials under it, continued
    when its ablation is."""
    params = driver.params
    trials = params.ablate.tuning.trials
    best = {}
    for variant in params.ablate.variants:
        name = f"{EXPERIMENT}-tuning-{variant}"
        study = Experiment(driver, name, "tagf ablate", ablation.fingerprint, ablation.resumed)
        tags = {"kind": "ablation-tuning", **driver.tags}
        with study.parent(f"tuning {variant}", tags, nested=True):
            results = study.fit(
                driver.trainable(replace(context, parent_run_id=study.run_id)),
                trials,
                f"ablation tuning of {variant}",
                param_space={"model.variant": variant, **grid, **space},
                tune_config=search_config(driver, trials, params.setup().train.epochs),
                run_config=driver.run_config(name),
            )
            config = results.get_best_result(METRIC, MODE, scope="all").config
            best[variant] = {key: config[key] for key in space}
            mlflow.log_dict(best[variant], "best_values.json")
    return best


def _history(result: Any) -> list[dict[str, float]]:
    """The trial's validation CCC per epoch, as it reported them to Tune (the last report, the scores, has none)."""
    frame = result.metrics_dataframe
    frame = frame[frame["epoch"].notna()] if "epoch" in frame else frame.iloc[:0]
    return [
        {"epoch": int(epoch), SELECTION_MEAN: float(value)}
        for epoch, value in zip(frame["epoch"], frame[SELECTION_MEAN])
    ]


def _mean_curves(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """Per model, the validation CCC per epoch averaged over the runs that reached that epoch."""
    by_model: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        by_model.setdefault(row["model"], {}).setdefault(row["epoch"], []).append(row[SELECTION_MEAN])
    return {
        model: [{"epoch": e, SELECTION_MEAN: float(np.mean(v))} for e, v in sorted(epochs.items())]
        for model, epochs in by_model.items()
    }


def _tuned(best: dict[str, dict[str, Any]], key: str) -> Any:
    """A grid value that depends on the trial's variant: its own study's best value of `key`."""
    return tune.sample_from(lambda spec: best[spec.config[CELL]["model.variant"]][key])


def run_ablation(
    params: Params,
    store: str,
    out_dir: str,
    address: str | None = None,
    extra_callbacks: tuple = (),
    replicas: str | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """`store`: data.seed's corpus; `replicas` (`tagf replicas`): the other corpora of ablate.corpus_seeds.
    `resume`: continue the interrupted ablation of the same settings (orchestration.resumption)."""
    print(plan(params), flush=True)
    space = None if params.ablate.tuning == "none" else search_space(tuning_space(params))  # fails before Ray
    stores = corpus_stores(params, store, replicas)
    driver = start_driver(params, store, address, report=True)
    corpora, reports = _corpora(driver, stores, store)
    augment = augment_frames(params, driver.splits["train"].fps)
    modes = key_modes(params)
    fp = fingerprint(params, [r.data_tags["data_version"] for r in reports.values()])
    ablation = Experiment(driver, EXPERIMENT, "tagf ablate", fp, resume)
    with ablation.parent(parent_run_name("ablation", driver.tags), {"kind": "ablation", **driver.tags}):
        if not ablation.resumed:
            _log_parent(params, stores, modes)
        context = driver.context(ablation.run_id, callbacks=tuple(extra_callbacks))
        tuned, tuning = _tuning(driver, context, space, augment, modes, ablation)
        grid = grid_cells(params, stores, augment, modes)
        varying = tuple(k for k in grid[0] if k != "model.variant" and len({str(c.get(k)) for c in grid}) > 1)
        results = ablation.fit(
            driver.trainable(replace(context, report=reports, varying=varying), splits=corpora),
            len(grid),
            "ablation",
            param_space={CELL: tune.grid_search(grid), **tuned},
            tune_config=driver.tune_config(params.ablate.max_concurrent),
            run_config=driver.run_config(EXPERIMENT),
        )
        cells, histories, setups, runs = _collect(results, driver, augment)
        meta = _meta(params, tuning, setups, stores)
        summary = _write_outputs(cells, histories, meta, params, Path(out_dir))
        _track_verdicts(driver, ablation.run_id, summary, runs, Path(out_dir))
    return summary


def _track_verdicts(driver: Driver, parent_run_id: str, summary: dict, runs: dict, out: Path) -> None:
    """Each trial's `group` tag becomes its model's label in the tables, and each model gets its summary run with
    the verdict (orchestration.verdict_runs): the runs table leads to the verdicts."""
    client = MlflowClient(driver.tracking_uri)
    labels = {(r["variant"], r["augment_shift_s"], r["key_mode"]): r["label"] for r in summary["rows"]}
    for key, run_ids in runs.items():
        for run_id in run_ids:
            client.set_tag(run_id, "group", labels.get(key, key[0]))
    log_verdicts(client, parent_run_id, summary, json.loads((out / "power.json").read_text()))


def _meta(params: Params, tuning: str, setups: dict[str, str], stores: dict[int, str]) -> dict[str, Any]:
    """What per_video.parquet carries about how it was made (tagf.study.cells)."""
    ablate = params.ablate
    return {
        "reference": ablate.reference,
        "variants": [arm.label for arm in ablate.arms()],
        "controls": ablate.controls_run(),
        "primary": ablate.primary,
        "margin": ablate.equivalence_margin,
        "min_frames": params.evaluate.min_frames,
        "settings": params.evaluate.model_dump(),
        "setups": setups,
        "tuning": tuning,
        "report_split": params.splits.report,
        "corpora": {str(seed): data_tags(path)["data_version"] for seed, path in stores.items()},
    }


def _corpora(driver: Driver, stores: dict[int, str], store: str) -> tuple[dict[int, dict], dict[int, Report]]:
    """Each corpus seed's splits by role (`store`'s are the driver's) and its Report; every corpus must have the same
    kinds of ground truth."""
    params = driver.params
    corpora = {
        seed: driver.splits if path == store else load_roles(params, path, report=True)
        for seed, path in stores.items()
    }
    reports = {
        seed: Report(
            Protocol.of_store(stores[seed], params.splits.report, splits["report"], params.evaluate),
            data_tags(stores[seed]),
        )
        for seed, splits in corpora.items()
    }
    # A statistic over the corpora needs the same ground truth from each.
    for what, means in (("local_lag_s", "audio lags"), ("outage", "per-frame masks")):
        have = {seed for seed, r in reports.items() if getattr(r.protocol, what) is not None}
        if have and have != set(reports):
            missing = ", ".join(stores[seed] for seed in reports if seed not in have)
            raise DataError(
                f"{missing}: no synthetic ground truth ({means}) found from the store, unlike the others"
            )
    if params.ablate.primary.startswith("lag") and next(iter(reports.values())).protocol.local_lag_s is None:
        raise DataError(
            f"{next(iter(stores.values()))}: no ground-truth audio lags, so ablate.primary "
            f"{params.ablate.primary!r} cannot be scored; use ablate.primary: clean"
        )
    return corpora, reports


def _log_parent(params: Params, stores: dict[int, str], modes: list[str]) -> None:
    """What the ablation is, on its parent run."""
    ablate = params.ablate
    log_environment()
    for seed, path in stores.items():
        log_store(path, data_tags(path), f"corpus {seed}")
    mlflow.log_params(
        {
            "variants": ",".join(ablate.variants),
            "seeds": ",".join(map(str, ablate.seeds)),
            "corpus_seeds": ",".join(map(str, stores)),
            **{
                f"corpus_{seed}_data_version": data_tags(path)["data_version"]
                for seed, path in stores.items()
            },
            "augment_shift_s": ",".join(map(str, ablate.augment_shift_s)),
            "key_modes": ",".join(modes),
            "tuning": "none" if ablate.tuning == "none" else f"optuna {ablate.tuning.trials} trials",
        }
    )


def _tuning(
    driver: Driver,
    context: TrialContext,
    space: dict | None,
    augment: dict[int, float],
    modes: list[str],
    ablation: Experiment,
) -> tuple[dict[str, Any], str]:
    """(the grid's per-variant tuned values, what the tables say of the tuning). The bases are params.yaml's
    model/train sections (with the profile); tuning puts each variant's own best values over them."""
    if space is None:
        return {}, "none: every variant trains with the model/train settings of the params file"
    params = driver.params
    first = {"train.max_audio_shift": next(iter(augment)), "model.key_mode": modes[0]}
    best = _tune_variants(driver, context, space, first, ablation)
    tuned = {key: _tuned(best, key) for key in next(iter(best.values()))}
    return tuned, (
        f"each variant's own Optuna study of {params.ablate.tuning.trials} trials on split "
        f"`{params.splits.selection}` (at augmentation ±{augment[first['train.max_audio_shift']]:g} s, "
        f"{modes[0]} key; its best values used in every condition)"
    )


def _collect(
    results: Any, driver: Driver, augment: dict[int, float]
) -> tuple[pd.DataFrame, list[dict], dict, dict]:
    """(every trial's protocol cells with the run they belong to, every trial's history, each variant's set-up,
    each model's (variant, augmentation, key) MLflow run ids)."""
    errors = [r for r in results if r.error]
    if errors:
        raise RunError(
            f"{len(errors)} ablation trial(s) failed, first: {error_line(errors[0].error, errors[0].path)}"
        )
    client = MlflowClient(driver.tracking_uri)
    frames, histories, setups, runs = [], [], {}, {}
    for r in results:
        config = flat_config(r.config)
        run = {
            "variant": Variant(config["model.variant"], config.get(AA_COPY, False)).label,
            "augment_shift_s": augment[config["train.max_audio_shift"]],
            "key_mode": config["model.key_mode"],
            "seed": config["train.seed"],
            "corpus_seed": config[CORPUS_SEED],
        }
        frames.append(
            pd.DataFrame(_artifact(client, r.metrics["mlflow_run_id"], CELLS_ARTIFACT)).assign(**run)
        )
        histories += [{**run, **epoch} for epoch in _history(r)]
        setups.setdefault(run["variant"], r.metrics["setup"])
        key = (run["variant"], run["augment_shift_s"], run["key_mode"])
        runs.setdefault(key, []).append(r.metrics["mlflow_run_id"])
    return pd.concat(frames, ignore_index=True), histories, setups, runs


def _write_outputs(
    cells: pd.DataFrame, histories: list[dict], meta: dict, params: Params, out: Path
) -> dict[str, Any]:
    """per_video.parquet, then every table and figure from it (tagf compare's code), the training histories; the
    tables and figures logged to the parent run too."""
    write_cells(str(out / "per_video.parquet"), cells, meta)
    summary = compare(str(out / "per_video.parquet"), str(out))
    # The machine and packages the results were made with (docs/results.md names them).
    storage.write_text(
        str(out / "provenance.json"), json.dumps(environment(), indent=1, sort_keys=True) + "\n"
    )
    labels = {(r["variant"], r["augment_shift_s"], r["key_mode"]): r["label"] for r in summary["rows"]}
    rows = [
        {
            "model": labels[(h["variant"], h["augment_shift_s"], h["key_mode"])],
            "seed": h["seed"],
            "corpus_seed": h["corpus_seed"],
            "epoch": h["epoch"],
            SELECTION_MEAN: h[SELECTION_MEAN],
        }
        for h in histories
        if (h["variant"], h["augment_shift_s"], h["key_mode"]) in labels
    ]
    storage.write_text(str(out / "history.json"), json.dumps(rows, indent=1, allow_nan=False))
    history_figure(_mean_curves(rows), str(out / "val_ccc.png"))
    for name in OUTPUTS:
        mlflow.log_artifact(str(out / name))
    # The verdicts as a table the run's Artifacts tab (and mlflow.load_table) shows.
    mlflow.log_table(pd.DataFrame(primary_rows(summary)), artifact_file="verdicts.json")
    return summary
