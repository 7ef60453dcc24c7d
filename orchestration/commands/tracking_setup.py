"""`tagf setup-tracking`: the artifacts bucket and the client user of a team's MLflow server (orchestration/
tracking_setup.py); the k8s Job mlflow-setup runs it once per deployment."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option


def _setup(args: argparse.Namespace) -> None:
    from orchestration.tracking_setup import setup_tracking

    params = load(args)
    for line in setup_tracking(
        params.mlflow.tracking_uri,
        args.artifacts,
        params.mlflow.experiment,
        params.mlflow.registered_model,
        args.timeout,
    ):
        print(f"ready: {line}")


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(
        sub.add_parser(
            "setup-tracking", help="create the artifacts bucket and the client user of an MLflow server"
        )
    )
    p.add_argument("--artifacts", required=True, help="the server's --artifacts-destination (s3://bucket)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the server's /health")
    p.set_defaults(run=_setup, computes=True)
