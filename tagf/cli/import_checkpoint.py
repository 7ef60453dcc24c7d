"""`tagf import-checkpoint`: a state dict trained with the authors' code as a tagf model file, front ends beside it."""

from __future__ import annotations

import argparse


def _import_checkpoint(args: argparse.Namespace) -> None:
    from tagf.models.official_checkpoint import import_checkpoint

    for line in import_checkpoint(args.source, args.destination, args.target, args.hop):
        print(line)


def register(sub: argparse._SubParsersAction) -> None:
    from tagf.score_names import TARGETS

    p = sub.add_parser(
        "import-checkpoint",
        help="convert a state dict trained with the authors' code (and save its front ends beside it)",
    )
    p.add_argument("source", help="torch file (path or fsspec URL) holding the authors' state dict")
    p.add_argument(
        "destination",
        help="tagf model file to write; front ends found in the checkpoint go to <stem>.<backbone>.pt beside it",
    )
    p.add_argument("--target", required=True, choices=TARGETS, help="what the checkpoint was trained on")
    p.add_argument("--hop", required=True, type=int, help="evaluation window hop in frames (authors: 200)")
    p.set_defaults(run=_import_checkpoint, computes=True)
