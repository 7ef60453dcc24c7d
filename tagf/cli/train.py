"""`tagf train`: one model on a feature store, resumable; its set-up from flags > params.yaml > variant > profile
(tagf.params: the one route of every run)."""

from __future__ import annotations

import argparse

from tagf.cli.options import params_option, run_params


def setup_of(args: argparse.Namespace):
    """The run these flags and their params file describe (tagf.params.RunParams.setup: flags win)."""
    from tagf.profiles import parse_settings

    settings = parse_settings(args.set)
    return run_params(args).setup(
        args.variant, settings["model"], settings["train"], profile=args.profile, selection=args.selection
    )


def _train(args: argparse.Namespace) -> None:
    from tagf.score_names import SELECTION_MEAN
    from tagf.training.trainer import train

    setup = setup_of(args)
    splits = setup.splits
    result = train(
        setup.model,
        setup.train,
        store=args.store,
        out_dir=args.output,
        resume=not args.restart,
        label=setup.label,
        selection=splits.selection,
        dev=(splits.dev_fraction, splits.dev_seed),
    )
    print(
        f"best epoch {result.best['epoch']}: {splits.selection} CCC mean {result.best[SELECTION_MEAN]:.4f} -> "
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
        choices=("dev", "validation", "test"),
        help="the split that picks the best epoch and stops early (default: params' splits.selection or "
        "validation; dev needs splits.dev_fraction)",
    )
    params_option(p, "its profile, model:, train: and splits:")
    p.set_defaults(run=_train, computes=True)
