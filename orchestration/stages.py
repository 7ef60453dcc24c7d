"""The platform's DVC stages: the report of a sweep and an ablation, the registration of a sweep's best model.
(source, corpus, prepare, features, sweep and ablate are commands of their own; source: source_stage.py.)

Each reads the validated params.yaml first, so a bad key fails every stage before it does any work.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.model_registry import FINGERPRINT_TAG, promote, register, registered_version
from orchestration.params import Params
from orchestration.provenance import provenance_tags
from orchestration.pyfunc_model import log_tagf_model
from orchestration.tracking import setup
from tagf import storage
from tagf.data.splits import load_splits
from tagf.evaluation.evaluate import evaluate
from tagf.evaluation.figures import history_figure
from tagf.evaluation.gate_plot import plot_gates
from tagf.models import load_model
from tagf.score_names import MEAN, SCORES, SELECTION_MEAN, SELECTION_SCORES


def report(params: Params, store: str, sweep_dir: str, ablation_dir: str, output: str) -> dict[str, Any]:
    """Report-split scores of the sweep's best model and the ablation summary as one metrics file; plots beside it."""
    out = Path(output)
    model_path = str(Path(sweep_dir) / "best" / "model.pt")
    report = params.splits.report
    split = load_splits(store, (report,), params.splits.dev_fraction, params.splits.dev_seed)[report]
    best = evaluate(
        [model_path], store, report, predictions_url=str(out / "predictions.parquet"), split=split
    )
    ablation = json.loads((Path(ablation_dir) / "ablation.json").read_text())
    # Few, stable keys (`dvc metrics show/diff` is a table); the full per-variant table is ablation.md.
    metrics = {
        "best_tagf": {k: round(best[k], 5) for k in SCORES},
        "best_tagf_latent_ccc_mean": round(best["latent"][MEAN], 5) if "latent" in best else None,
        "variant_ccc_mean": {
            row["label"]: round(row["clean"]["mean"]["mean"], 5) for row in ablation["rows"]
        },
    }
    storage.write_text(str(out / "metrics.json"), json.dumps(metrics, indent=1, allow_nan=False))
    _, extra = load_model(model_path)
    keys = (SELECTION_MEAN, *(key for key in SELECTION_SCORES if key != SELECTION_MEAN))
    history = [{"epoch": h["epoch"], **{key: h[key] for key in keys}} for h in extra.get("history", [])]
    storage.write_text(str(out / "history.json"), json.dumps(history, indent=1, allow_nan=False))
    history_figure({"best TAGF": history}, str(out / "val_ccc.png"))
    video = split.videos[0]
    plot_gates(model_path, store, video, str(out / "gates.png"))
    return metrics


def _logged_model(client: MlflowClient, experiment_id: str, run_id: str | None, model_path: str, tags: dict):
    """(model URI, run id) of the sweep's best model in MLflow: the best trial's logged model, or — when this store
    lacks that run (another machine, a deleted mlflow.db, a cached `dvc repro`) — the DVC-tracked model file,
    logged to a new run."""
    try:
        run = client.get_run(run_id) if run_id else None
    except MlflowException:
        run = None
    if run is not None:
        logged = client.search_logged_models(experiment_ids=[run.info.experiment_id])
        found = [m for m in logged if m.source_run_id == run_id]
        if found:
            return found[0].model_uri, run_id
    model, extra = load_model(model_path)
    new = client.create_run(
        experiment_id, run_name="register: results/sweep/best", tags={"kind": "registration", **tags}
    )
    model_uri = log_tagf_model(model, extra, new.info.run_id)
    client.set_terminated(new.info.run_id, "FINISHED")
    return model_uri, new.info.run_id


def register_stage(params: Params, store: str, sweep_dir: str, output: str) -> dict[str, Any]:
    """Register the sweep's best model (from the DVC-tracked results/sweep alone) as `challenger`, unless this very
    model file is registered already, then promote the challenger to `champion` if it is better."""
    # As configured (relative stays relative; setup exports the absolute one): the summary is a DVC output, the
    # same in any checkout.
    configured = os.environ.get("MLFLOW_TRACKING_URI") or params.mlflow.tracking_uri
    uri, experiment_id = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    best = json.loads((Path(sweep_dir) / "best_config.json").read_text())
    client = MlflowClient(uri)
    model_path = str(Path(sweep_dir) / "best" / "model.pt")
    fingerprint = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    _, extra = load_model(model_path)
    score = float(extra["best"][SELECTION_MEAN])
    name = params.mlflow.registered_model
    tags = {**provenance_tags(store), "variant": best["variant"], "gate": best["model"]["gate"]}
    version = registered_version(client, name, fingerprint)
    new = version is None
    if new:
        model_uri, run_id = _logged_model(client, experiment_id, best.get("mlflow_run_id"), model_path, tags)
        version = register(client, name, model_uri, run_id, score, {**tags, FINGERPRINT_TAG: fingerprint})
    outcome = promote(client, name)
    champion = client.get_model_version_by_alias(name, "champion").version
    summary = {
        "name": name,
        "version": version,
        "new_version": new,
        SELECTION_MEAN: score,
        "champion": champion,
        "promoted": outcome.promoted,
        "message": outcome.message,
        "tracking_uri": configured,
    }
    storage.write_text(output, json.dumps(summary, indent=1, allow_nan=False))
    return summary
