"""`tagf robustness`: the misalignment protocol's conditions (audio shifts in seconds, modality noise, modality
dropout) for trained models side by side; the same code an ablation's trials run."""

from __future__ import annotations

import argparse

from tagf.cli.options import MODEL_HELP, given, local_model, model_uri_option, numbers, run_params
from tagf.errors import UsageError


def _robustness(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from tagf.params_file import invalid
    from tagf.study.conditions import ProtocolSettings
    from tagf.study.figures import robustness_figure
    from tagf.study.robustness import robustness_of_files, write_outputs

    models: dict[str, list[str]] = {}
    for spec in args.model:
        name, sep, url = spec.partition("=")
        if not sep:
            raise UsageError(f"--model {spec}: expected NAME=MODEL_FILE")
        models.setdefault(name, []).append(local_model(args, url))
    try:
        fields = run_params(args).evaluate.model_dump() | given(
            args, shifts_s="shifts_s", snr_db="snr", dropout="dropout"
        )
        settings = ProtocolSettings(**fields)
    except ValidationError as err:
        raise invalid(err, args.params or "the flags", "evaluate.") from None
    cells = robustness_of_files(models, args.store, args.split, settings)
    rows = write_outputs(cells, args.output, args.split, settings)
    robustness_figure(rows, f"{args.output}/robustness.png")
    print(f"{len(rows)} rows -> {args.output}/robustness.{{json,csv,png}}, per_video.parquet")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("robustness", help="CCC under audio shift, modality noise and modality dropout")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=MODEL",
        help=f"a model to compare, NAME={MODEL_HELP.split(',')[0]}, or a models:/ or runs:/ URI (repeat; the same "
        "NAME twice = one model per target)",
    )
    p.add_argument("--store", required=True, help="feature store")
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument(
        "--shifts-s",
        type=numbers(float),
        help="audio shifts in seconds, each used as ± (default: params' evaluate.shifts_s, else 0.5,1,2)",
    )
    p.add_argument("--snr", type=numbers(float), help="modality noise levels, SNR dB (empty: none)")
    p.add_argument("--dropout", type=numbers(float), help="modality dropout fractions (empty: none)")
    p.add_argument("--output", required=True, help="directory for robustness.json/.csv/.png")
    model_uri_option(p, "its evaluate: section (levels); ")
    p.set_defaults(run=_robustness, computes=True)
