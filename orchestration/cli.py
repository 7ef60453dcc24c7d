"""Console script `tagf`: the science commands of tagf.cli plus the platform ones (sweep, ablate, register,
promote, the DVC stages), and `models:/name@alias` model URIs wherever a command takes a model file."""

from __future__ import annotations

import argparse
import json

from tagf.cli import build_parser, run

MODEL_COMMANDS = ("predict", "evaluate", "plot-gates", "robustness")


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
    from orchestration.ablation import markdown, run_ablation

    best = json.loads(open(args.best).read())
    table = run_ablation(_params(args), args.store, best, args.output, address=args.address)
    print(markdown(table))


def _register(args):
    from orchestration.stages import register_stage

    summary = register_stage(_params(args), args.store, args.sweep, args.output)
    print(f"registered {summary['name']} v{summary['version']} as challenger; {summary['message']}")


def _promote(args):
    from mlflow.tracking import MlflowClient

    from orchestration.registry import promote
    from orchestration.tracking import setup

    params = _params(args)
    uri, _ = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    print(promote(MlflowClient(uri), args.name or params.mlflow.registered_model, force=args.force).message)


def _stage(args):
    from orchestration import stages

    params = _params(args)
    if args.stage == "corpus":
        stages.corpus(params, args.output)
    elif args.stage == "prepare":
        stages.prepare_stage(args.input, args.output)
    elif args.stage == "features":
        stages.features_stage(params, args.input, args.output)
    elif args.stage == "evaluate":
        metrics = stages.evaluate_stage(params, args.input, args.sweep, args.ablation, args.output)
        print(json.dumps(metrics["best_tagf"], allow_nan=False))
    print(f"stage {args.stage} done -> {args.output}")


def add_platform_commands(sub: argparse._SubParsersAction) -> None:
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

    p = with_params(sub.add_parser("ablate", help="every variant x seeds with the best config, on Ray"))
    p.add_argument("--store", required=True)
    p.add_argument("--best", required=True, help="best_config.json of a sweep")
    p.add_argument("--output", required=True, help="directory for ablation.{json,csv,md} and robustness.*")
    p.add_argument("--address", help="Ray cluster address")
    p.set_defaults(run=_ablate)

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

    p = with_params(sub.add_parser("stage", help="one stage of the DVC pipeline (see dvc.yaml)"))
    p.add_argument("stage", choices=("corpus", "prepare", "features", "evaluate"))
    p.add_argument("--input", help="prepare: corpus dir; features: frame index; evaluate: feature store")
    p.add_argument("--sweep", help="evaluate: sweep output directory")
    p.add_argument("--ablation", help="evaluate: ablation output directory")
    p.add_argument("--output", required=True)
    p.set_defaults(run=_stage)


def resolve_model_uris(args: argparse.Namespace) -> None:
    """Replace models:/, runs:/ and m-... MLflow URIs in --model by local tagf model files."""
    if getattr(args, "command", None) not in MODEL_COMMANDS:
        return
    from orchestration.pyfunc_model import model_file

    def local(spec: str) -> str:
        name, sep, uri = spec.rpartition("=") if args.command == "robustness" else ("", "", spec)
        if not uri.startswith(("models:/", "runs:/")):
            return spec
        import mlflow

        from orchestration.tracking import resolve_uri

        mlflow.set_tracking_uri(resolve_uri("sqlite:///mlflow.db"))
        return f"{name}{sep}{model_file(uri)}"

    args.model = [local(m) for m in args.model] if isinstance(args.model, list) else local(args.model)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(add_platform_commands), argv, prepare=resolve_model_uris)
