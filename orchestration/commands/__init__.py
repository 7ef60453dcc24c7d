"""The platform's `tagf` commands, one module per command or group, each with its `register(subparsers)`; tagf.cli
finds them through the entry-point group `tagf.commands` (one entry per command name, pyproject.toml) and imports
only the one being run."""

from __future__ import annotations

import argparse


def params_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--params", default="params.yaml", help="the pipeline's params.yaml (validated first)")
    return p


def load(args: argparse.Namespace):
    """The validated params of `--params`."""
    from orchestration.params import load_params

    return load_params(args.params)
