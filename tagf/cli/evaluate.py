"""`tagf evaluate`: ABAW-protocol CCC of a model (or one model per target) on a split of a feature store."""

from __future__ import annotations

import argparse

from tagf.cli.options import MODEL_HELP, local_model, model_uri_option


def _evaluate(args: argparse.Namespace) -> None:
    from tagf.evaluation.evaluate import evaluate
    from tagf.score_names import SCORES

    models = [local_model(args, m) for m in args.model]
    metrics = evaluate(models, args.store, args.split, args.metrics, args.predictions)
    print(" ".join(f"{k}={metrics[k]:.4f}" for k in SCORES if k in metrics))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ABAW-protocol CCC of a model on a split")
    p.add_argument(
        "--model", action="append", required=True, help=f"{MODEL_HELP}; repeat for one model per target"
    )
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    p.add_argument("--metrics", help="metrics JSON to write")
    p.add_argument("--predictions", help="per-frame predictions Parquet to write")
    model_uri_option(p)
    p.set_defaults(run=_evaluate, computes=True)
