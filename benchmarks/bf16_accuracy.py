"""What bf16 autocast costs in accuracy: the same training in fp32 and in bf16, seed by seed.

    tagf synth /tmp/c --preset default && tagf prepare /tmp/c /tmp/i && tagf features /tmp/i /tmp/store
    python benchmarks/bf16_accuracy.py /tmp/store [--profile small] [--seeds 0,1,2] [--set train.epochs=3 ...]

For every seed it trains the profile's TAGF twice (train.precision fp32, then bf16; best epoch on `validation`)
and scores both on `test`. It prints each run's CCC, the mean CCC of each precision with a 95 % t-interval over
seeds, and the mean paired difference bf16 − fp32 with its interval (n = number of seeds). It needs a CPU with
native bf16 (AVX512-BF16 or AMX) or a GPU.
"""

from __future__ import annotations

import argparse

import torch

from tagf.data.feature_store import read_split
from tagf.evaluation.inference import predict_frames
from tagf.evaluation.scoring import score
from tagf.params import RunParams, Setup
from tagf.profiles import parse_settings
from tagf.score_names import MEAN
from tagf.study.statistics import mean_interval
from tagf.study.tables import interval
from tagf.training.trainer import resolve_device, train


def test_ccc(setup: Setup, splits: dict) -> float:
    """Train `setup`, then the CCC (mean over targets) of the best weights on `test`."""
    train_cfg = setup.train
    result = train(setup.model, train_cfg, splits=splits, callbacks=[], label=setup.label)
    device = resolve_device(train_cfg.device)
    predicted = predict_frames(
        result.model, splits["test"], train_cfg.window, train_cfg.hop, device=device
    ).values
    return score(predicted, splits["test"], train_cfg.targets)[MEAN]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("store", help="feature store with train, validation and test splits")
    parser.add_argument("--profile", default="small")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = parser.parse_args()

    splits = {name: read_split(args.store, name) for name in ("train", "validation", "test")}
    splits["selection"] = splits["validation"]
    settings = parse_settings(args.set)
    variant = settings["model"].pop("variant", "tagf")
    ccc: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        for precision in ccc:
            train_settings = {**settings["train"], "seed": seed, "precision": precision}
            setup = RunParams(profile=args.profile).setup(variant, settings["model"], train_settings)
            value = test_ccc(setup, splits)
            ccc[precision].append(value)
            print(f"seed {seed} {precision}: test CCC {value:.4f}", flush=True)
    print(f"torch {torch.__version__}, profile {args.profile}, settings {args.set or 'none'}")
    for precision, values in ccc.items():
        print(f"{precision} mean test CCC: {interval(mean_interval(values).as_dict())}")
    difference = mean_interval([b - f for b, f in zip(ccc["bf16"], ccc["fp32"])], kind="difference")
    print(f"bf16 - fp32 (paired by seed): {interval(difference.as_dict(), signed=True)}")


if __name__ == "__main__":
    main()
