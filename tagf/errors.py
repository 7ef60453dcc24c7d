"""The errors a user can fix, each with its own exit status of the `tagf` command.

The command line prints one of these as a single `tagf <command>: error: <message>` line (a corpus check: one line
per problem, in `problems`) and exits with the class's `exit_code`; anything else is a bug or a failure outside
tagf (CUDA out of memory, a lost Ray worker) and prints its traceback, exit status 1. `tagf --debug` prints the
traceback of every error. `exit_codes_help()` is the table, shown at the end of `tagf --help`.

Where code raised ValueError or FileNotFoundError before, the subclass still is one, so `except ValueError` keeps
working.
"""

from __future__ import annotations


class TagfError(Exception):
    """Base of the user-fixable errors; never raised itself."""

    exit_code = 1


class UsageError(TagfError, ValueError):
    """command-line arguments that do not fit together (also argparse's own usage errors)"""

    exit_code = 2


class ParamsError(TagfError, ValueError):
    """a setting: params.yaml, or --set / --variant / --profile / --preset"""

    exit_code = 3


class DataError(TagfError, ValueError):
    """the content of a corpus, frame index, feature store or split"""

    exit_code = 4


class StorageError(TagfError, FileNotFoundError):
    """a file, directory or URL that is not there; also any OSError (permission denied, disk full)"""

    exit_code = 5


class TrackingError(TagfError, RuntimeError):
    """the MLflow tracking store or model registry"""

    exit_code = 6


class ModelFileError(TagfError, ValueError):
    """a tagf model file, backbone weights, or a checkpoint to import"""

    exit_code = 7


class RunError(TagfError, RuntimeError):
    """a sweep or ablation that was interrupted (resume it) or whose trials failed (their first error is shown)"""

    exit_code = 8


class Disagreement(TagfError):
    """a rerun whose verdicts or differences disagree with the committed results (`tagf agree`)"""

    exit_code = 9


class Interrupted(RunError):
    """a sweep or ablation stopped before its end (SIGINT, SIGTERM): `--resume` continues it"""


def exit_code(err: BaseException) -> int | None:
    """The exit status of a user-fixable error; None for anything else (show its traceback)."""
    if isinstance(err, TagfError):
        return err.exit_code
    if isinstance(err, OSError):  # fsspec, pyarrow and open() name the path in the message
        return StorageError.exit_code
    return None


def exit_codes_help() -> str:
    rows = [f"  {cls.exit_code}  {cls.__name__}: {cls.__doc__}" for cls in TagfError.__subclasses__()]
    return "\n".join(
        ["exit status:", "  0  success", "  1  an unexpected error (its traceback is printed)", *rows]
    )
