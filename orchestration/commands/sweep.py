"""`tagf sweep`: Ray Tune + Optuna + ASHA over params.yaml's sweep.space."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option, storage_option


def _sweep(args: argparse.Namespace) -> None:
    from orchestration.sweep import run_sweep

    result = run_sweep(load(args), args.store, args.output, resume=args.resume, address=args.address)
    print(
        f"{result.trials} trials; best val ccc_mean {result.best_score:.4f} ({result.best_config['variant']}, "
        f"gate {result.best_config['model']['gate']}) -> {args.output}/best_config.json; "
        f"MLflow parent run {result.parent_run_id}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(sub.add_parser("sweep", help="Ray Tune + Optuna + ASHA sweep over params.yaml's space"))
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument(
        "--output", required=True, help="directory for best_config.json, trials.csv, best/model.pt"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted sweep (keeps finished trials)"
    )
    storage_option(p)
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, params, else local)")
    p.set_defaults(run=_sweep, computes=True)
