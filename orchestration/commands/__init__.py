"""The platform's `tagf` commands, one module per command or group, each with its `register(subparsers)`; tagf.cli
finds them through the entry-point group `tagf.commands` (one entry per command name, pyproject.toml) and imports
only the one being run."""

from __future__ import annotations

import argparse


def params_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--params", default="params.yaml", help="the pipeline's params.yaml (validated first)")
    return p


def storage_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--storage",
        help="Ray experiments' storage (default: params sweep.storage); on a cluster a shared path or URL",
    )
    return p


def load(args: argparse.Namespace):
    """The validated params of `--params`, with `--storage` over sweep.storage where the command has it."""
    from orchestration.params import load_params

    params = load_params(args.params)
    if getattr(args, "storage", None):
        params = params.model_copy(
            update={"sweep": params.sweep.model_copy(update={"storage": args.storage})}
        )
    return params
