"""`tagf train`: one model on a feature store, resumable; its set-up from flags > params.yaml > profile."""

from __future__ import annotations

import argparse

from tagf.cli.options import params_option, params_section


def _train(args: argparse.Namespace) -> None:
    from tagf.params_file import read_params_file
    from tagf.profiles import parse_settings, resolve
    from tagf.score_names import SELECTION_MEAN
    from tagf.training.trainer import train

    pipeline = read_params_file(args.params) if args.params else {}
    settings = parse_settings(args.set)
    model = {k: v for k, v in params_section(args, "model").items() if v is not None}  # null: the profile's
    train_fields = {k: v for k, v in params_section(args, "train").items() if v is not None}
    variant = args.variant or model.pop("variant", "tagf")
    model.pop("variant", None)
    profile = args.profile or pipeline.get("profile")
    where = "--set" if not args.params else f"{args.params} with --set"
    setup = resolve(
        profile, variant, {**model, **settings["model"]}, {**train_fields, **settings["train"]}, where
    )
    selection = args.selection or (pipeline.get("splits") or {}).get("selection", "validation")
    result = train(
        setup.model,
        setup.train,
        store=args.store,
        out_dir=args.output,
        resume=not args.restart,
        label=setup.label,
        selection=selection,
    )
    print(
        f"best epoch {result.best['epoch']}: {selection} CCC mean {result.best[SELECTION_MEAN]:.4f} -> "
        f"{args.output}/model.pt ({setup.label})"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from tagf.profiles import PROFILES

    p = sub.add_parser("train", help="train one model on a feature store (resumes an interrupted run)")
    p.add_argument("--store", required=True, help="feature store (path or fsspec URL)")
    p.add_argument("--output", required=True, help="run directory: checkpoint/, model.pt, history.json")
    p.add_argument(
        "--variant", help="model variant (tagf, rjcma, jca, grjca, concat, ...; default: params' or tagf)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a model.* or train.* setting, e.g. --set train.lr=1e-3 (repeatable)",
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        help="start from a profile's model and train settings (default: params' profile, else none)",
    )
    p.add_argument(
        "--selection",
        choices=("validation", "test"),
        help="the split that picks the best epoch and stops early (default: params' splits.selection or validation)",
    )
    params_option(p, "its profile, model:, train: and splits.selection")
    p.set_defaults(run=_train, computes=True)
