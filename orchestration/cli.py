"""Console script `tagf`: the science commands plus the platform ones."""

from __future__ import annotations

import argparse

from tagf.cli import build_parser, run


def add_platform_commands(sub: argparse._SubParsersAction) -> None:
    """Sweep, ablation, registry and promotion commands are added here as the platform grows."""


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(add_platform_commands), argv)
