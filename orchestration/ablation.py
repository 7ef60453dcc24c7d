"""`tagf ablate`: every registered variant × N seeds with the best hyperparameters, as Ray Tune trials.

Each trial trains a variant (the variant's preset — fusion, gate, steps — over the best config's other fields, so
only the fusion differs), then scores it on the test split and on the robustness grid. The driver aggregates:
mean ± std CCC per variant and the mean CCC drop under each audio shift, as JSON, CSV and Markdown, and the
robustness figure with one line per variant (averaged over seeds). MLflow: one parent run, one child per trial.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.mlflow_trials import MlflowTrialCloser
from orchestration.params import Params
from orchestration.ray_cluster import connect
from orchestration.sweep import provenance_tags, storage_path
from orchestration.tracking import MlflowEpochLogger, setup
from orchestration.trial import TuneReporter, open_child_run
from tagf import storage
from tagf.data.splits import load_splits
from tagf.evaluation.evaluate import LoadedModel, combined_predictions
from tagf.evaluation.figures import robustness_figure
from tagf.evaluation.ground_truth import audio_lags
from tagf.evaluation.robustness import robustness_grid, write_table
from tagf.evaluation.scoring import TARGETS, score
from tagf.models import VARIANTS, model_config
from tagf.profiles import describe
from tagf.training.config import TrainConfig
from tagf.training.trainer import train

SCORES = ("ccc_valence", "ccc_arousal", "ccc_mean")


def variant_config(variant: str, best_model: dict[str, Any]):
    preset = VARIANTS[variant]
    return model_config(
        variant, **{k: v for k, v in best_model.items() if k not in preset and k != "outputs"}
    )


def run_ablation_trial(config: dict[str, Any], splits: dict, settings: dict[str, Any]) -> None:
    import tempfile

    variant, seed = config["variant"], config["seed"]
    model_cfg = variant_config(variant, settings["best"]["model"])
    train_cfg = TrainConfig(**{**settings["best"]["train"], "seed": seed})
    work = Path(tempfile.mkdtemp(prefix="tagf-ablation-"))
    profile = describe(settings["profile"], model_cfg, train_cfg)
    run_id = open_child_run(
        settings, None, f"{variant}-seed{seed}", variant, {"variant": variant, "seed": seed}, profile
    )
    callbacks = [MlflowEpochLogger(settings["tracking_uri"], run_id), TuneReporter(run_id)]
    result = train(
        model_cfg,
        train_cfg,
        splits=splits,
        out_dir=str(work),
        callbacks=callbacks,
        profile=settings["profile"],
        selection=settings["selection_split"],
    )
    loaded = [
        LoadedModel(
            result.model, [TARGETS[c] for c in train_cfg.target_columns], train_cfg.window, train_cfg.hop
        )
    ]
    report = splits["report"]
    values, targets = combined_predictions(loaded, report)
    tested = score(values, report, targets, split_name=settings["report_split"])
    grid = settings["grid"]
    rows = robustness_grid(
        {variant: loaded},
        report,
        shifts=grid["shifts"],
        snrs_db=grid["snr_db"],
        dropouts=grid["dropout"],
        seed=seed,
        split_name=settings["report_split"],
        lags=settings["lags"],
    )
    client = MlflowClient(settings["tracking_uri"])
    for key in SCORES:
        client.log_metric(run_id, f"test_{key}", tested[key])
    tune.report(
        {
            **{f"test_{k}": tested[k] for k in SCORES},
            "robustness": json.dumps(rows, allow_nan=False),
            "mlflow_run_id": run_id,
            "val_ccc_mean": result.best["val_ccc_mean"],
            "profile": profile,
        }
    )


def summarize(
    trials: list[dict[str, Any]], variants: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(table rows per variant, robustness rows averaged over seeds per variant)."""
    table, curves = [], []
    for variant in variants:
        mine = [t for t in trials if t["variant"] == variant]
        row: dict[str, Any] = {
            "variant": variant,
            "seeds": len(mine),
            "profile": mine[0]["profile"] if mine else None,
            "report_split": mine[0]["report_split"] if mine else None,
        }
        for key in SCORES:
            values = [t[f"test_{key}"] for t in mine]
            row[f"{key}_mean"], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        grids = [t["robustness"] for t in mine]
        for cell in grids[0] if grids else []:
            same = [
                next(
                    r for r in g if r["perturbation"] == cell["perturbation"] and r["level"] == cell["level"]
                )
                for g in grids
            ]
            curves.append({**cell, **{k: float(np.mean([r[k] for r in same])) for k in SCORES}})
        clean = next(
            (
                c["ccc_mean"]
                for c in curves
                if c["model"] == variant and c["perturbation"] == "shift" and c["level"] == 0
            ),
            None,
        )
        for c in curves:
            if (
                c["model"] == variant
                and c["perturbation"] == "shift"
                and c["level"] != 0
                and clean is not None
            ):
                row[f"drop_shift_{c['level']:+d}"] = clean - c["ccc_mean"]
        table.append(row)
    return table, curves


def markdown(table: list[dict[str, Any]]) -> str:
    drops = sorted(
        {k for row in table for k in row if k.startswith("drop_shift_")},
        key=lambda k: int(k.rsplit("_", 1)[1]),
    )
    head = [
        "variant",
        "CCC valence",
        "CCC arousal",
        "CCC mean",
        *[f"drop @{k.rsplit('_', 1)[1]}" for k in drops],
    ]
    # Every table says what produced it: the profile (and what differs from it) and the split scored.
    caption = [f"Scored on split `{table[0]['report_split']}`." if table else ""]
    caption += [f"- {row['variant']}: profile {row['profile']}" for row in table]
    lines = [*caption, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        cells = [row["variant"]] + [f"{row[f'{k}_mean']:.3f} ± {row[f'{k}_std']:.3f}" for k in SCORES]
        cells += [f"{row.get(k, float('nan')):.3f}" for k in drops]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_ablation(
    params: Params, store: str, best_config: dict[str, Any], out_dir: str, address: str | None = None
) -> list[dict[str, Any]]:
    uri, experiment_id = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    connect(
        address or params.sweep.address,
        num_cpus=max(1, int(params.sweep.max_concurrent * params.sweep.cpus_per_trial)),
    )
    roles = params.splits
    loaded = load_splits(store, ("train", roles.selection, roles.report), roles.dev_fraction, roles.dev_seed)
    splits = {"train": loaded["train"], "selection": loaded[roles.selection], "report": loaded[roles.report]}
    tags = provenance_tags(store)
    variants, seeds = params.ablate.variants, params.ablate.seeds
    with mlflow.start_run(
        experiment_id=experiment_id, run_name="ablation", tags={"kind": "ablation", **tags}
    ) as parent:
        mlflow.log_params({"variants": ",".join(variants), "seeds": ",".join(map(str, seeds))})
        settings = {
            "best": best_config,
            "grid": params.evaluate.model_dump(),
            "profile": params.profile,
            "report_split": roles.report,
            "selection_split": roles.selection,
            "lags": audio_lags(store, splits["report"]),
            "tracking_uri": uri,
            "experiment_id": experiment_id,
            "parent_run_id": parent.info.run_id,
            "tags": tags,
        }
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(run_ablation_trial, splits=splits, settings=settings),
                {"cpu": params.sweep.cpus_per_trial, "gpu": params.sweep.gpus_per_trial},
            ),
            param_space={"variant": tune.grid_search(variants), "seed": tune.grid_search(seeds)},
            tune_config=tune.TuneConfig(max_concurrent_trials=params.sweep.max_concurrent),
            run_config=tune.RunConfig(
                name="tagf-ablation",
                storage_path=storage_path(params.sweep.storage),
                verbose=1,
                failure_config=tune.FailureConfig(max_failures=params.sweep.max_failures),
                callbacks=[MlflowTrialCloser(uri, tags)],
            ),
        )
        results = tuner.fit()
        errors = [r for r in results if r.error]
        if errors:
            raise RuntimeError(f"{len(errors)} ablation trial(s) failed, first: {errors[0].error}")
        trials = [
            {
                "variant": r.config["variant"],
                "seed": r.config["seed"],
                "profile": r.metrics["profile"],
                "report_split": roles.report,
            "selection_split": roles.selection,
            "lags": audio_lags(store, splits["report"]),
                **{f"test_{k}": r.metrics[f"test_{k}"] for k in SCORES},
                "robustness": json.loads(r.metrics["robustness"]),
            }
            for r in results
        ]
        table, curves = summarize(trials, variants)
        out = Path(out_dir)
        storage.write_text(str(out / "ablation.json"), json.dumps(table, indent=1, allow_nan=False))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for row in table for k in row)))
        writer.writeheader()
        writer.writerows(table)
        storage.write_text(str(out / "ablation.csv"), text.getvalue())
        storage.write_text(str(out / "ablation.md"), markdown(table))
        write_table(curves, str(out / "robustness.json"), str(out / "robustness.csv"))
        robustness_figure(curves, str(out / "robustness.png"))
        for name in ("ablation.md", "ablation.json", "robustness.png"):
            mlflow.log_artifact(str(out / name))
    return table
