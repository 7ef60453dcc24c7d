"""`tagf ablate`: every variant × seeds × corpora × augmentations × key modes (params.yaml's ablate:), on Ray."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option


def _ablate(args: argparse.Namespace) -> None:
    from orchestration.ablation import plan, run_ablation
    from tagf.study.tables import markdown

    params = load(args)
    if args.plan:
        print(plan(params))
        return
    table = run_ablation(params, args.store, args.output, address=args.address, replicas=args.replicas)
    print(markdown(table, params.ablate.reference))


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(
        sub.add_parser("ablate", help="every variant x seeds x augmentations x key modes (params ablate:), on Ray")
    )
    p.add_argument("--store", required=True, help="feature store of data.seed's corpus")
    p.add_argument("--output", required=True, help="directory for ablation.{json,md}, per_video.parquet, robustness.*")
    p.add_argument("--address", help="Ray cluster address")
    p.add_argument(
        "--replicas", help="directory written by `tagf replicas`: the corpora of ablate.corpus_seeds but data.seed"
    )
    p.add_argument("--plan", action="store_true", help="only say how many trials it would run, and exit")
    p.set_defaults(run=_ablate)
