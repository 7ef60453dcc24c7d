"""`tagf report`: the metrics and plots of a sweep's best model and an ablation (the DVC metrics)."""

from __future__ import annotations

import argparse
import json

from orchestration.commands import load, params_option


def _report(args: argparse.Namespace) -> None:
    from orchestration.stages import report

    metrics = report(load(args), args.store, args.sweep, args.ablation, args.output)
    print(json.dumps(metrics["best_tagf"], allow_nan=False), f"-> {args.output}/metrics.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(
        sub.add_parser(
            "report", help="metrics and plots of a sweep's best model and an ablation (DVC metrics)"
        )
    )
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--sweep", required=True, help="sweep output directory")
    p.add_argument("--ablation", required=True, help="ablation output directory")
    p.add_argument("--output", required=True, help="directory for metrics.json, history.json and the plots")
    p.set_defaults(run=_report, computes=True)
