"""`tagf compare`: every table, verdict and figure of a study again, from its per-video scores alone."""

from __future__ import annotations

import argparse

from tagf.cli.options import positive_number


def _compare(args: argparse.Namespace) -> None:
    from tagf.study.compare import OUTPUTS, compare
    from tagf.study.tables import primary_table

    summary = compare(args.per_video, args.output, args.reference, args.primary, args.margin)
    print("\n".join(primary_table(summary)))
    print(f"-> {args.output}/{{{','.join(OUTPUTS)}}}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="recompute a study's tables and verdicts from its per_video.parquet (no retraining)"
    )
    p.add_argument("per_video", help="per_video.parquet written by `tagf ablate` (or `tagf robustness`)")
    p.add_argument(
        "--output", required=True, help="directory for ablation.json/.md, gates.json, power.json, figures"
    )
    p.add_argument("--reference", help="the variant every other is compared with (default: the study's)")
    p.add_argument("--primary", help="the primary endpoint, e.g. clean or lag>=1 (default: the study's)")
    p.add_argument(
        "--margin", type=positive_number, help="equivalence margin in CCC, above 0 (default: the study's)"
    )
    p.set_defaults(run=_compare)
