"""The platform's `tagf` commands (source, replicas, sweep, ablate, report, register, promote), added to tagf.cli through
the `tagf.commands` entry point, and the resolver of `models:/` and `runs:/` model URIs (`tagf.model_uris`)."""

from __future__ import annotations

import argparse
import json
import os


def _params(args):
    from orchestration.params import load_params

    return load_params(args.params)


def _sweep(args):
    from orchestration.sweep import run_sweep

    result = run_sweep(_params(args), args.store, args.output, resume=args.resume, address=args.address)
    print(
        f"{result.trials} trials; best val ccc_mean {result.best_score:.4f} ({result.best_config['variant']}, "
        f"gate {result.best_config['model']['gate']}) -> {args.output}/best_config.json; "
        f"MLflow parent run {result.parent_run_id}"
    )


def _ablate(args):
    from orchestration.ablation import plan, run_ablation
    from orchestration.ablation_summary import markdown

    params = _params(args)
    if args.plan:
        print(plan(params))
        return
    table = run_ablation(params, args.store, args.output, address=args.address, replicas=args.replicas)
    print(markdown(table, params.ablate.reference))


def _replicas(args):
    from orchestration.replicas import write_replicas

    stores = write_replicas(_params(args), args.output)
    made = f"the corpora of seeds {sorted(stores)}" if stores else "no corpus (ablate.corpus_seeds: data.seed's only)"
    print(f"{made} -> {args.output}")


def _register(args):
    from orchestration.stages import register_stage

    summary = register_stage(_params(args), args.store, args.sweep, args.output)
    done = "registered" if summary["new_version"] else "already registered (same model file):"
    print(f"{done} {summary['name']} v{summary['version']}; {summary['message']}")


def _promote(args):
    from mlflow.tracking import MlflowClient

    from orchestration.model_registry import promote
    from orchestration.tracking import setup

    params = _params(args)
    uri, _ = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    print(promote(MlflowClient(uri), args.name or params.mlflow.registered_model, force=args.force).message)


def _source(args):
    from orchestration.stages import source

    described = source(_params(args), args.output, args.params)
    what = f"{described['files']} files" if "files" in described else f"preset {described['preset']}"
    print(f"{described['source']} corpus source ({what}) -> {args.output}")


def _report(args):
    from orchestration.stages import report

    metrics = report(_params(args), args.store, args.sweep, args.ablation, args.output)
    print(json.dumps(metrics["best_tagf"], allow_nan=False), f"-> {args.output}/metrics.json")


def add_commands(sub: argparse._SubParsersAction) -> None:
    def with_params(p):
        p.add_argument("--params", default="params.yaml", help="pipeline parameters (validated first)")
        return p

    p = with_params(sub.add_parser("sweep", help="Ray Tune + Optuna + ASHA sweep over params.yaml's space"))
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument(
        "--output", required=True, help="directory for best_config.json, trials.csv, best/model.pt"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted sweep (keeps finished trials)"
    )
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, params, else local)")
    p.set_defaults(run=_sweep)

    p = with_params(
        sub.add_parser("ablate", help="every variant x seeds x augmentations x key modes (params ablate:), on Ray")
    )
    p.add_argument("--store", required=True)
    p.add_argument("--output", required=True, help="directory for ablation.{json,csv,md} and robustness.*")
    p.add_argument("--address", help="Ray cluster address")
    p.add_argument(
        "--replicas", help="directory written by `tagf replicas`: the corpora of ablate.corpus_seeds but data.seed"
    )
    p.add_argument("--plan", action="store_true", help="only say how many trials it would run, and exit")
    p.set_defaults(run=_ablate)

    p = with_params(
        sub.add_parser("replicas", help="the synthetic corpora of ablate.corpus_seeds but data.seed, with features")
    )
    p.add_argument("output", help="directory for seed-<n>/{corpus,index.parquet,features} and replicas.json")
    p.set_defaults(run=_replicas)

    p = with_params(
        sub.add_parser("register", help="register a sweep's best model (challenger), promote if better")
    )
    p.add_argument("--store", required=True)
    p.add_argument("--sweep", required=True, help="sweep output directory")
    p.add_argument("--output", required=True, help="registration summary JSON")
    p.set_defaults(run=_register)

    p = with_params(
        sub.add_parser("promote", help="move the champion alias to the challenger if it is better")
    )
    p.add_argument("--name", help="registered model (default: params mlflow.registered_model)")
    p.add_argument("--force", action="store_true", help="promote even if the challenger is not better")
    p.set_defaults(run=_promote)

    p = with_params(
        sub.add_parser("source", help="fingerprint the corpus params.yaml's data: section names (DVC: every run)")
    )
    p.add_argument("output", help="JSON that changes exactly when the corpus would")
    p.set_defaults(run=_source)

    p = with_params(
        sub.add_parser("report", help="metrics and plots of a sweep's best model and an ablation (DVC metrics)")
    )
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--sweep", required=True, help="sweep output directory")
    p.add_argument("--ablation", required=True, help="ablation output directory")
    p.add_argument("--output", required=True, help="directory for metrics.json, history.json and the plots")
    p.set_defaults(run=_report)


def model_file(uri: str, params_file: str) -> str:
    """The local tagf model file of a models:/ or runs:/ URI, looked up in MLFLOW_TRACKING_URI, else in the params
    file's mlflow.tracking_uri."""
    from mlflow.exceptions import MlflowException

    from orchestration import pyfunc_model
    from orchestration.params import load_params
    from orchestration.tracking import resolve_uri
    from tagf.errors import TrackingError

    # The environment first, so that no params file is needed then.
    configured = os.environ.get("MLFLOW_TRACKING_URI") or load_params(params_file).mlflow.tracking_uri
    tracking_uri = resolve_uri(configured)
    try:
        return pyfunc_model.model_file(uri, tracking_uri)
    except MlflowException as err:
        raise TrackingError(f"{uri}: {err.message} (tracking store {tracking_uri})") from None
