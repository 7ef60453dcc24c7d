"""`tagf source` (what the corpus params.yaml's data: section names is made from; DVC runs it every time) and
`tagf replicas` (the synthetic corpora of ablate.corpus_seeds other than data.seed, each with its features)."""

from __future__ import annotations

import argparse

from orchestration.commands import load, params_option


def _source(args: argparse.Namespace) -> None:
    from orchestration.source_stage import source

    described = source(load(args), args.output, args.params)
    what = f"{described['files']} files" if "files" in described else f"preset {described['preset']}"
    print(f"{described['source']} corpus source ({what}) -> {args.output}")


def _replicas(args: argparse.Namespace) -> None:
    from orchestration.replicas import write_replicas

    stores = write_replicas(load(args), args.output)
    made = (
        f"the corpora of seeds {sorted(stores)}"
        if stores
        else "no corpus (ablate.corpus_seeds: data.seed's only)"
    )
    print(f"{made} -> {args.output}")


COMMANDS = {  # name: (help, what OUTPUT is, handler, computes: whether it needs torch's threads)
    "source": (
        "fingerprint the corpus params.yaml's data: section names (DVC: every run)",
        "JSON that changes exactly when the corpus would",
        _source,
        False,  # DVC runs it at every `dvc repro`: it never imports torch
    ),
    "replicas": (
        "the synthetic corpora of ablate.corpus_seeds but data.seed, with features",
        "directory for seed-<n>/{corpus,index.parquet,features} and replicas.json",
        _replicas,
        True,
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, output, handler, computes) in COMMANDS.items():
        p = params_option(sub.add_parser(name, help=help_text))
        p.add_argument("output", help=output)
        p.set_defaults(run=handler, computes=computes)
