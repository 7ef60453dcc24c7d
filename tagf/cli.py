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
    state_dict = payload.get("state_dict", payload.get("net", payload)) if isinstance(payload, dict) else payload
    model = from_official_state_dict(state_dict)
    save_model(model, args.destination, {"imported_from": str(args.source)})
    print(f"imported {args.source} -> {args.destination} ({model.cfg.steps} steps, window {model.cfg.window})")


def add_science_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-checkpoint", help="convert a state dict trained with the authors' code")
    p.add_argument("source", help="torch file (path or fsspec URL) holding the authors' state dict")
    p.add_argument("destination", help="where to write the tagf model file")
    p.set_defaults(run=_import_checkpoint)


def build_parser(extra: Callable[[argparse._SubParsersAction], None] | None = None) -> argparse.ArgumentParser:
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
        return f"{err.title}: {where}: {first['msg']}" + (f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else "")
    return " ".join(str(err).split())


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, ValidationError, OSError) as err:
        print(f"tagf {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)
