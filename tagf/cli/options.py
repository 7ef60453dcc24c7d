"""Arguments several commands share, read the same way everywhere.

`--params` always names the pipeline's params.yaml; a command reads the sections it needs from it, and its own
flags win over the file (flags > params > profile). Model arguments take a file, path or URL, or a `models:/` /
`runs:/` URI that an installed package resolves (entry points `tagf.model_uris`) in the tracking store the
params file names.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

MODEL_HELP = "model file, or models:/NAME@ALIAS or runs:/ID/model (MLflow)"


def params_option(p: argparse.ArgumentParser, reads: str) -> None:
    """`--params`: the pipeline's params.yaml, of which the command reads `reads`."""
    p.add_argument("--params", help=f"the pipeline's params.yaml: {reads} (the command's flags win over it)")


def run_params(args: argparse.Namespace):
    """The science's sections of `--params`, validated (tagf.params.RunParams); without --params, none: every
    setting the library's default, no profile."""
    from tagf.params import RunParams

    return RunParams.read(args.params) if args.params else RunParams(profile=None)


def given(args: argparse.Namespace, **names: str) -> dict[str, Any]:
    """{field: value} of the flags the user gave (argparse default None), as `field=flag` pairs name them."""
    return {field: getattr(args, flag) for field, flag in names.items() if getattr(args, flag) is not None}


def local_model(args: argparse.Namespace, uri: str) -> str:
    """A model URI whose scheme an installed package resolves (`tagf.model_uris`) as a local model file; any other
    path or URL as it is."""
    scheme, sep, _ = uri.partition(":/")
    found = entry_points(group="tagf.model_uris", name=scheme) if sep else ()
    return next(iter(found)).load()(uri, args.params or "params.yaml") if found else uri


def model_uri_option(p: argparse.ArgumentParser, reads: str = "") -> None:
    params_option(
        p,
        f"{reads}for models:/ and runs:/ model URIs, its mlflow.tracking_uri (default ./params.yaml; "
        "MLFLOW_TRACKING_URI wins)",
    )


def numbers(kind: type) -> Callable[[str], tuple]:
    """An argparse type for comma-separated numbers ("" is none)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}"
            ) from None

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (a margin of nan or 0 would make every verdict meaningless)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number above 0")
    return value


def front_ends_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--visual-weights", help="IR-50 state dict; without it the built-in synthetic-corpus extractor"
    )
    p.add_argument(
        "--audio-weights", help="VGGish state dict; without it the built-in synthetic-corpus extractor"
    )
    p.add_argument(
        "--front-ends",
        choices=("standard", "authors"),
        default="standard",
        help="standard: face.evoLVe IR-50 on 112-px faces + VGGish port; authors: the TAGF authors' IR-50 on "
        "40-px centre crops of 48-px faces + their VGGish (weights from `tagf import-checkpoint`)",
    )


def extractor_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ExtractorConfig fields the backbone flags give (none given: none, so the params' or defaults stay)."""
    suffix = "_authors" if args.front_ends == "authors" else ""
    fields: dict[str, Any] = {}
    if args.visual_weights:
        fields |= {"visual_backbone": f"ir50{suffix}", "visual_weights": args.visual_weights}
    if args.audio_weights:
        fields |= {"audio_backbone": f"vggish{suffix}", "audio_weights": args.audio_weights}
    return fields
