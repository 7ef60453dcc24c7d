"""`tagf ablate`: every variant × seeds × corpora × augmentations × key modes (params.yaml's ablate:), on Ray."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option, storage_option


def _ablate(args: argparse.Namespace) -> None:
    from orchestration.ablation import run_ablation
    from orchestration.ablation_design import plan
    from tagf.study.tables import primary_table

    params = load(args)
    if args.plan:
        print(plan(params))
        if args.pilot:
            from tagf.study.planning import plan_from_pilot

            print(plan_from_pilot(args.pilot, params.ablate, params.corpus_seeds(), args.target))
        return
    summary = run_ablation(
        params, args.store, args.output, address=args.address, replicas=args.replicas, resume=args.resume
    )
    print("\n".join(primary_table(summary)))
    print(f"-> {args.output}/ablation.md (every table), per_video.parquet (`tagf compare` recomputes them)")


def register(sub: argparse._SubParsersAction) -> None:
    p = params_option(
        sub.add_parser(
            "ablate", help="every variant x seeds x augmentations x key modes (params ablate:), on Ray"
        )
    )
    p.add_argument("--store", required=True, help="feature store of data.seed's corpus")
    p.add_argument(
        "--output", required=True, help="directory for ablation.{json,md}, per_video.parquet, robustness.*"
    )
    storage_option(p)
    p.add_argument("--address", help="Ray cluster address")
    p.add_argument(
        "--replicas",
        help="directory written by `tagf replicas`: the corpora of ablate.corpus_seeds but data.seed",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted ablation of the same settings, data and code (finished trials kept); "
        "otherwise start over",
    )
    p.add_argument("--plan", action="store_true", help="only say how many trials it would run, and exit")
    p.add_argument(
        "--pilot",
        help="with --plan: a previous ablation's per_video.parquet, whose variance components say what this design "
        "can detect and what a target difference needs",
    )
    p.add_argument("--target", type=float, default=0.02, help="with --pilot: the difference to detect (CCC)")
    p.set_defaults(run=_ablate, computes=True)
