"""`tagf register` (a sweep's best model as the challenger, promoted if better) and `tagf promote`."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option


def _register(args: argparse.Namespace) -> None:
    from orchestration.stages import register_stage

    summary = register_stage(load(args), args.store, args.sweep, args.output)
    done = "registered" if summary["new_version"] else "already registered (same model file):"
    print(f"{done} {summary['name']} v{summary['version']}; {summary['message']}")


def _promote(args: argparse.Namespace) -> None:
    from mlflow.tracking import MlflowClient

    from orchestration.model_registry import promote
    from orchestration.tracking import setup

    params = load(args)
    uri, _ = setup(params.mlflow.tracking_uri, params.mlflow.experiment)
    print(promote(MlflowClient(uri), args.name or params.mlflow.registered_model, force=args.force).message)


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(
        sub.add_parser("register", help="register a sweep's best model (challenger), promote if better")
    )
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--sweep", required=True, help="sweep output directory")
    p.add_argument("--output", required=True, help="registration summary JSON")
    p.set_defaults(run=_register, computes=True)

    p = params_option(
        sub.add_parser("promote", help="move the champion alias to the challenger if it is better")
    )
    p.add_argument("--name", help="registered model (default: params mlflow.registered_model)")
    p.add_argument("--force", action="store_true", help="promote even if the challenger is not better")
    p.set_defaults(run=_promote, computes=True)
