"""The `tagf` command line: thin subcommands over the library (the science side).

orchestration.cli adds the platform commands (sweep, ablate, register, promote) to this parser; the console script
points there so that tagf/ never imports orchestration/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pydantic import ValidationError

Command = Callable[[argparse.Namespace], None]


def _import_checkpoint(args: argparse.Namespace) -> None:
    import io

    import torch

    from tagf import storage
    from tagf.models import from_official_state_dict, save_model

    payload = torch.load(io.BytesIO(storage.read_bytes(args.source)), map_location="cpu", weights_only=True)
    # The authors save either the bare state dict or a dict holding it.
    state_dict = (
        payload.get("state_dict", payload.get("net", payload)) if isinstance(payload, dict) else payload
    )
    model = from_official_state_dict(state_dict)
    save_model(model, args.destination, {"imported_from": str(args.source)})
    print(
        f"imported {args.source} -> {args.destination} ({model.cfg.steps} steps, window {model.cfg.window})"
    )


def _synth(args: argparse.Namespace) -> None:
    from tagf.data.synth.corpus import write_corpus

    write_corpus(args.output, args.preset, seed=args.seed, max_lag_s=args.max_lag_s)
    print(f"wrote synthetic corpus ({args.preset}, seed {args.seed}) to {args.output}")


def _prepare(args: argparse.Namespace) -> None:
    from tagf.data.prepare import prepare

    index = prepare(args.root, args.index)
    print(
        f"indexed {index.num_rows} frames of {len(set(index.column('video').to_pylist()))} videos -> {args.index}"
    )


def _features(args: argparse.Namespace) -> None:
    from tagf.features.extract import ExtractorConfig, extract_features

    cfg = ExtractorConfig(
        visual_backbone="ir50" if args.visual_weights else "builtin",
        visual_weights=args.visual_weights,
        audio_backbone="vggish" if args.audio_weights else "builtin",
        audio_weights=args.audio_weights,
        batch_size=args.batch_size,
        dtype=args.dtype,
    )
    manifest = extract_features(args.index, args.store, cfg)
    print(f"feature store {args.store} version {manifest['version']}: {manifest['splits']}")


def add_science_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write the synthetic corpus in Aff-Wild2 layout")
    p.add_argument("output", help="corpus root to write (path or fsspec URL)")
    p.add_argument("--preset", default="tiny", help="tiny | default | large")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lag-s", type=float, default=None, help="per-video audio lag spread (seconds)")
    p.set_defaults(run=_synth)

    p = sub.add_parser("prepare", help="validate an Aff-Wild2-layout corpus and write its frame index")
    p.add_argument("root", help="corpus root (path or fsspec URL)")
    p.add_argument("index", help="frame index to write (.parquet)")
    p.set_defaults(run=_prepare)

    p = sub.add_parser("features", help="extract per-frame features into the Parquet feature store")
    p.add_argument("index", help="frame index written by `tagf prepare`")
    p.add_argument("store", help="feature store to write (directory path or fsspec URL)")
    p.add_argument(
        "--visual-weights", help="IR-50 state dict; without it the built-in synthetic-corpus extractor"
    )
    p.add_argument(
        "--audio-weights", help="VGGish state dict; without it the built-in synthetic-corpus extractor"
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    p.set_defaults(run=_features)

    p = sub.add_parser("import-checkpoint", help="convert a state dict trained with the authors' code")
    p.add_argument("source", help="torch file (path or fsspec URL) holding the authors' state dict")
    p.add_argument("destination", help="where to write the tagf model file")
    p.set_defaults(run=_import_checkpoint)


def build_parser(
    extra: Callable[[argparse._SubParsersAction], None] | None = None,
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagf", description="Time-aware gated fusion for valence/arousal.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_science_commands(sub)
    if extra is not None:
        extra(sub)
    return parser


def one_line(err: Exception) -> str:
    """A user-facing one-line message: pydantic errors name the offending field."""
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{err.title}: {where}: {first['msg']}" + (
            f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        )
    return " ".join(str(err).split())


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, ValidationError, OSError) as err:
        # A corpus check reports every problem, one line each, so a user fixes them in one pass.
        for line in getattr(err, "problems", None) or [one_line(err)]:
            print(f"tagf {args.command}: error: {line}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)
