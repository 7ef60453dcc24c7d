"""`tagf features`: per-frame features of an indexed corpus into the Parquet feature store."""

from __future__ import annotations

import argparse
import os
from importlib.metadata import entry_points

from tagf.cli.options import extractor_fields, front_ends_option, given, params_option, run_params


def _features(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from tagf.features.config import ExtractorConfig
    from tagf.features.extract import extract_features
    from tagf.params_file import invalid

    fields = (
        run_params(args).features.model_dump()
        | extractor_fields(args)
        | given(args, batch_size="batch_size", dtype="dtype")
    )
    try:
        cfg = ExtractorConfig(**fields)
    except ValidationError as err:
        raise invalid(err, args.params or "the flags", "features.") from None
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:  # the platform's Ray extraction (entry point tagf.extractors: orchestration/extraction.py)
        (on_ray,) = entry_points(group="tagf.extractors", name="ray")
        manifest = on_ray.load()(args.index, args.store, cfg, address)
    else:
        manifest = extract_features(args.index, args.store, cfg)
    print(f"feature store {args.store} version {manifest['version']}: {manifest['splits']}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="extract per-frame features into the Parquet feature store")
    p.add_argument("index", help="frame index written by `tagf prepare`")
    p.add_argument("store", help="feature store to write (directory path or fsspec URL)")
    front_ends_option(p)
    p.add_argument("--batch-size", type=int, help="frames per backbone batch (default 256)")
    p.add_argument("--dtype", choices=("float16", "float32"), help="storage precision (default float16)")
    p.add_argument(
        "--address", help="a Ray cluster to extract on (default: RAY_ADDRESS; neither: this process, locally)"
    )
    params_option(p, "its features: section")
    p.set_defaults(run=_features, computes=True)
