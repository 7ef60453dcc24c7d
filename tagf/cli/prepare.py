"""`tagf prepare`: validate an Aff-Wild2-layout corpus and write its frame index."""

from __future__ import annotations

import argparse


def _prepare(args: argparse.Namespace) -> None:
    from tagf.data.corpus_source import corpus_root
    from tagf.data.prepare import prepare

    index = prepare(corpus_root(args.root), args.index)
    videos = len(set(index.column("video").to_pylist()))
    print(f"indexed {index.num_rows} frames of {videos} videos -> {args.index}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="validate an Aff-Wild2-layout corpus and write its frame index")
    p.add_argument(
        "root",
        help="corpus root, or a directory whose SOURCE.json points at one (`tagf corpus`); path or URL",
    )
    p.add_argument("index", help="frame index to write (.parquet)")
    p.set_defaults(run=_prepare)
