"""`tagf ablate`: every registered variant × N seeds with the sweep's best settings, as Ray Tune trials.

Each trial (orchestration.trial, the same runner as the sweep's) trains a variant — the variant's preset (fusion,
gate, steps) over the best config's other fields, so only the fusion differs — then scores it on the report split
and on the robustness grid. The driver aggregates (orchestration.ablation_summary): CCC and CCC drop under each
audio shift per variant with intervals over runs, and the paired per-video comparison with the reference variant,
as JSON and Markdown; the per-video scores of every run as Parquet; the robustness figure with one line per variant
(averaged over runs). MLflow: one parent run, one child per trial, holding its robustness rows and per-video scores.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.ablation_summary import SCORES, markdown, summarize
from orchestration.driver import start_driver
from orchestration.params import Params
from orchestration.trial import PER_VIDEO_ARTIFACT, ROBUSTNESS_ARTIFACT, Report
from tagf import storage
from tagf.errors import RunError
from tagf.evaluation.figures import robustness_figure
from tagf.evaluation.ground_truth import audio_lags
from tagf.evaluation.robustness import write_table


def _artifact(client: MlflowClient, run_id: str, name: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text())


def _per_video_table(trials: list[dict[str, Any]]) -> pa.Table:
    rows = [
        {"variant": t["variant"], "seed": t["seed"], "video": video, **scores}
        for t in trials
        for video, scores in t["per_video"].items()
    ]
    return pa.Table.from_pylist(rows)


def run_ablation(
    params: Params,
    store: str,
    best_config: dict[str, Any],
    out_dir: str,
    address: str | None = None,
    extra_callbacks: tuple = (),
) -> list[dict[str, Any]]:
    driver = start_driver(params, store, address, report=True)
    variants, seeds, grid = params.ablate.variants, params.ablate.seeds, params.evaluate
    report = Report(
        split=params.splits.report,
        shifts=tuple(grid.shifts),
        snr_db=tuple(grid.snr_db),
        dropout=tuple(grid.dropout),
        lags=audio_lags(store, driver.splits["report"]),
    )
    with mlflow.start_run(
        experiment_id=driver.experiment_id, run_name="ablation", tags={"kind": "ablation", **driver.tags}
    ) as parent:
        mlflow.log_params({"variants": ",".join(variants), "seeds": ",".join(map(str, seeds))})
        context = driver.context(
            parent.info.run_id,
            model={"variant": best_config["variant"], **best_config["model"]},
            train=best_config["train"],
            report=report,
            callbacks=tuple(extra_callbacks),
        )
        tuner = tune.Tuner(
            driver.trainable(context),
            param_space={"model.variant": tune.grid_search(variants), "train.seed": tune.grid_search(seeds)},
            tune_config=tune.TuneConfig(max_concurrent_trials=params.sweep.max_concurrent),
            run_config=driver.run_config("tagf-ablation"),
        )
        results = tuner.fit()
        errors = [r for r in results if r.error]
        if errors:
            raise RunError(f"{len(errors)} ablation trial(s) failed, first: {errors[0].error}")
        client = MlflowClient(driver.tracking_uri)
        trials = [
            {
                "variant": r.config["model.variant"],
                "seed": r.config["train.seed"],
                "profile": r.metrics["profile"],
                "report_split": report.split,
                **{f"report_{k}": r.metrics[f"report_{k}"] for k in SCORES},
                "robustness": _artifact(client, r.metrics["mlflow_run_id"], ROBUSTNESS_ARTIFACT),
                "per_video": _artifact(client, r.metrics["mlflow_run_id"], PER_VIDEO_ARTIFACT),
            }
            for r in results
        ]
        reference = params.ablate.reference
        table, curves = summarize(trials, variants, reference)
        out = Path(out_dir)
        with storage.atomic_path(str(out / "per_video.parquet")) as (fs, tmp), fs.open(tmp, "wb") as f:
            pq.write_table(_per_video_table(trials), f)
        storage.write_text(str(out / "ablation.json"), json.dumps(table, indent=1, allow_nan=False))
        storage.write_text(str(out / "ablation.md"), markdown(table, reference))
        write_table(curves, str(out / "robustness.json"), str(out / "robustness.csv"))
        robustness_figure(curves, str(out / "robustness.png"))
        for name in ("ablation.md", "ablation.json", "robustness.png"):
            mlflow.log_artifact(str(out / name))
    return table
