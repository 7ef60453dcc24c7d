"""`tagf plot-gates`: a gated model's per-frame step weights over the VA trace of one video."""

from __future__ import annotations

import argparse

from tagf.cli.options import MODEL_HELP, local_model, model_uri_option


def _plot_gates(args: argparse.Namespace) -> None:
    from tagf.evaluation.gate_plot import plot_gates

    plot_gates(local_model(args, args.model), args.store, args.video, args.output)
    print(f"gate heatmap of {args.video} -> {args.output}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot-gates", help="heatmap of a gated model's per-frame step weights over the VA trace"
    )
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--video", required=True)
    p.add_argument("--output", required=True, help="PNG to write")
    model_uri_option(p)
    p.set_defaults(run=_plot_gates, computes=True)
