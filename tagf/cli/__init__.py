"""The `tagf` command line (also `python -m tagf`): thin commands over the library, each module here one command or
group with its `register(subparsers)`, the parser beside its handler.

Only the module of the command being run is imported (and so, only what that command needs): `tagf prepare` never
imports training, nor the platform. Installed packages add commands through the entry-point group `tagf.commands`,
one entry per command name (orchestration adds sweep, ablate, report, ...), and model URI schemes through
`tagf.model_uris` (a function (uri, params file) -> local model file, named after its scheme: `models`, `runs`), so
tagf/ never imports orchestration/. Errors: tagf.errors; `--debug` shows any error's traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from importlib.metadata import entry_points

from tagf import runtime
from tagf.errors import ParamsError, exit_code, exit_codes_help

# command -> the module that registers it
COMMANDS = {
    "synth": "tagf.cli.corpus",
    "corpus": "tagf.cli.corpus",
    "prepare": "tagf.cli.prepare",
    "features": "tagf.cli.features",
    "train": "tagf.cli.train",
    "evaluate": "tagf.cli.evaluate",
    "robustness": "tagf.cli.robustness",
    "compare": "tagf.cli.compare",
    "agree": "tagf.cli.agree",
    "plot-gates": "tagf.cli.plot_gates",
    "predict": "tagf.cli.predict",
    "import-checkpoint": "tagf.cli.import_checkpoint",
}


def _registrars(command: str | None) -> list[Callable[[argparse._SubParsersAction], None]]:
    """The register functions for `command`, or for every command (help, or a name nobody knows)."""
    plugins = entry_points(group="tagf.commands")
    if command in COMMANDS:
        return [importlib.import_module(COMMANDS[command]).register]
    named = [entry for entry in plugins if entry.name == command]
    if named:
        return [named[0].load()]
    modules = dict.fromkeys(COMMANDS.values())
    found = [importlib.import_module(module).register for module in modules]
    return found + list({entry.value: entry.load() for entry in plugins}.values())


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for the command in `argv` (only that command's module is imported), or for every command."""
    parser = argparse.ArgumentParser(
        prog="tagf",
        description="Time-aware gated fusion for valence/arousal.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    command = next((word for word in (argv or []) if not word.startswith("-")), None)
    for register in _registrars(command):
        register(sub)
    return parser


def _reproducible(argv: list[str]) -> bool:
    """The `reproducible` switch of the command's params file (`--params`, for the platform's commands by default
    params.yaml; read strictly but without the schema, before anything imports torch), else TAGF_REPRODUCIBLE. A
    value that is not a boolean, or a file that does not parse, is a ParamsError."""
    from tagf.params_file import read_reproducible

    command = next((word for word in argv if not word.startswith("-")), None)
    path = "params.yaml" if command is not None and command not in COMMANDS else None
    for k, word in enumerate(argv):
        if word == "--params" and k + 1 < len(argv):
            path = argv[k + 1]
        elif word.startswith("--params="):
            path = word.split("=", 1)[1]
    if path and os.path.exists(path):
        return read_reproducible(path)
    return os.environ.get("TAGF_REPRODUCIBLE") == "1"


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user-fixable error becomes one `tagf <command>: error: ...` line and its exit status.

    Before the command imports torch, its kernels are pinned when the run is reproducible (tagf.runtime); a
    command that computes (`computes` in its defaults) then gets its thread count."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        reproducible = _reproducible(argv)
    except ParamsError as err:  # before the parser: the command's name as the user typed it
        command = next((word for word in argv if not word.startswith("-")), "")
        print(f"tagf {command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return err.exit_code
    if "torch" not in sys.modules:  # a caller that imported torch already (a test) keeps its own kernels
        runtime.pin_kernels(reproducible)
    args = build_parser(argv).parse_args(argv)
    try:
        if getattr(args, "computes", False):
            runtime.use_threads()
        args.run(args)
    except Exception as err:
        code = exit_code(err)
        if code is None or args.debug:
            traceback.print_exc()
        if code is None:
            return 1
        # A corpus check reports every problem, one line each, so a user fixes them in one pass.
        for line in getattr(err, "problems", None) or [" ".join(str(err).split())]:
            print(f"tagf {args.command}: error: {line}", file=sys.stderr)
        return code
    return 0


def run() -> None:
    """The `tagf` executable and `python -m tagf`: main(), then the process ends with its status (process_exit)."""
    from tagf.cli.process_exit import end_process, status_of

    try:
        status = main()
    except SystemExit as exit:  # argparse's usage errors and --help
        status = status_of(exit)
    end_process(status)
