"""The platform's DVC stages: the corpus a params.yaml asks for, the report of a sweep and an ablation, the
registration of a sweep's best model. (prepare, features, sweep and ablate are commands of their own.)

Each reads the validated params.yaml first, so a bad key fails every stage before it does any work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from orchestration.model_registry import promote, register
from orchestration.params import Params
from orchestration.provenance import provenance_tags
from orchestration.tracking import setup
from tagf import storage
from tagf.data.corpus_source import write_pointer
from tagf.data.splits import load_splits
from tagf.data.synth.corpus import write_corpus
from tagf.errors import StorageError, TrackingError
from tagf.evaluation.evaluate import evaluate
from tagf.evaluation.figures import history_figure
from tagf.evaluation.interpretability import plot_gates
from tagf.models import load_model


def corpus(params: Params, output: str, where: str = "params.yaml") -> None:
    """synthetic: write the corpus into `output`; affwild2: a pointer to the user's tree (tagf.data.corpus_source)."""
    if params.data.source == "synthetic":
        write_corpus(output, params.data.preset, seed=params.data.seed, max_lag_s=params.data.max_lag_s)
        return
    try:
        write_pointer(params.data.root, output)
    except StorageError as err:
        raise StorageError(f"{where}: data.root: {err}") from None


def report(
    params: Params, store: str, sweep_dir: str, ablation_dir: str, output: str
) -> dict[str, Any]:
    """Report-split scores of the sweep's best model and the ablation summary as one metrics file; plots beside it."""
    out = Path(output)
    model_path = str(Path(sweep_dir) / "best" / "model.pt")
    report = params.splits.report
    split = load_splits(store, (report,), params.splits.dev_fraction, params.splits.dev_seed)[report]
    best = evaluate([model_path], store, report, predictions_url=str(out / "predictions.parquet"), split=split)
    ablation = json.loads((Path(ablation_dir) / "ablation.json").read_text())
    # Few, stable keys (`dvc metrics show/diff` is a table); the full per-variant table is ablation.md.
    metrics = {
        "best_tagf": {k: round(best[k], 5) for k in ("ccc_valence", "ccc_arousal", "ccc_mean")},
        "best_tagf_latent_ccc_mean": round(best["latent"]["ccc_mean"], 5) if "latent" in best else None,
        "variant_ccc_mean": {row["variant"]: round(row["ccc_mean"]["mean"], 5) for row in ablation},
    }
    storage.write_text(str(out / "metrics.json"), json.dumps(metrics, indent=1, allow_nan=False))
    _, extra = load_model(model_path)
    history = [
        {
            "epoch": h["epoch"],
            "val_ccc_mean": h["val_ccc_mean"],
            "val_ccc_valence": h["val_ccc_valence"],
            "val_ccc_arousal": h["val_ccc_arousal"],
        }
        for h in extra.get("history", [])
    ]
    storage.write_text(str(out / "history.json"), json.dumps(history, indent=1, allow_nan=False))
    history_figure({"best TAGF": history}, str(out / "val_ccc.png"))
    video = split.videos[0]
    plot_gates(model_path, store, video, str(out / "gates.png"))
    return metrics


def register_stage(params: Params, store: str, sweep_dir: str, output: str) -> dict[str, Any]:
    """Register the sweep's best model as `challenger`, then promote it to `champion` if it is better."""
    uri, _ = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    best = json.loads((Path(sweep_dir) / "best_config.json").read_text())
    client = MlflowClient(uri)
    run_id = best["mlflow_run_id"]
    logged = [
        m
        for m in client.search_logged_models(experiment_ids=[client.get_run(run_id).info.experiment_id])
        if m.source_run_id == run_id
    ]
    if not logged:
        raise TrackingError(f"MLflow run {run_id} (best trial) has no logged model")
    _, extra = load_model(str(Path(sweep_dir) / "best" / "model.pt"))
    score = float(extra["best"]["val_ccc_mean"])
    name = params.mlflow.registered_model
    version = register(
        client,
        name,
        logged[0].model_uri,
        run_id,
        score,
        {**provenance_tags(store), "variant": best["variant"], "gate": best["model"]["gate"]},
    )
    outcome = promote(client, name)
    champion = client.get_model_version_by_alias(name, "champion").version
    summary = {
        "name": name,
        "version": version,
        "val_ccc_mean": score,
        "champion": champion,
        "promoted": outcome.promoted,
        "message": outcome.message,
        "tracking_uri": uri,
    }
    storage.write_text(output, json.dumps(summary, indent=1, allow_nan=False))
    return summary
