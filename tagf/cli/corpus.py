"""`tagf synth` (a synthetic corpus in Aff-Wild2's layout) and `tagf corpus` (the corpus a source description names)."""

from __future__ import annotations

import argparse


def _synth(args: argparse.Namespace) -> None:
    from tagf.data.synth.corpus import write_corpus

    write_corpus(args.output, args.preset, seed=args.seed, max_lag_s=args.max_lag_s)
    print(f"wrote synthetic corpus ({args.preset}, seed {args.seed}) to {args.output}")


def _corpus(args: argparse.Namespace) -> None:
    from tagf.data.corpus_source import write_corpus_from

    described = write_corpus_from(args.source, args.output)
    what = (
        f"synthetic corpus ({described['preset']})"
        if described["source"] == "synthetic"
        else "corpus pointer"
    )
    print(f"wrote {what} to {args.output}")


def register(sub: argparse._SubParsersAction) -> None:
    from tagf.data.synth.presets import PRESET_NAMES

    p = sub.add_parser("synth", help="write the synthetic corpus in Aff-Wild2 layout")
    p.add_argument("output", help="corpus root to write (path or fsspec URL)")
    p.add_argument("--preset", default="tiny", choices=PRESET_NAMES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lag-s", type=float, default=None, help="per-video audio lag spread (seconds)")
    p.set_defaults(run=_synth)

    p = sub.add_parser("corpus", help="the corpus a source description names (written by `tagf source`)")
    p.add_argument(
        "source", help="source description JSON: a synthetic preset and seed, or an Aff-Wild2 tree"
    )
    p.add_argument(
        "output", help="corpus directory: the synthetic corpus, or a SOURCE.json pointing at the tree"
    )
    p.set_defaults(run=_corpus)
