"""Ray Tune overhead: the same training trials run in-process without Ray, then as Tune trials.

    RAY_AUTH_MODE=disabled python benchmarks/tune_overhead.py [--trials 4] [--epochs 3]

Random features at the paper's sizes (in memory), a small TAGF (length-agnostic, L=150). Tune runs the trials one
at a time on one CPU (the same work as in-process: the ratio is pure overhead — actor start-up, object-store
transfer of the data, reporting, checkpoint persistence), then two at a time on the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import ray
from ray import tune

from orchestration.trial import TuneReporter
from tagf.data.feature_store import SplitArrays
from tagf.models import model_config
from tagf.training.config import TrainConfig
from tagf.training.trainer import train

MODEL = dict(
    key_mode="length_agnostic", window=150, visual_channels=(128, 64), audio_channels=(64, 64), head_hidden=64
)


def random_split(rng, videos: int, frames: int) -> SplitArrays:
    n = videos * frames
    return SplitArrays(
        videos=[f"v{i}" for i in range(videos)],
        offsets=np.arange(videos + 1) * frames,
        visual=rng.normal(size=(n, 512)).astype(np.float16),
        audio=rng.normal(size=(n, 128)).astype(np.float16),
        labels=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        label_valid=np.ones(n, bool),
        visual_valid=np.ones(n, bool),
        frames=np.tile(np.arange(1, frames + 1), videos).astype(np.int32),
    )


def one_trial(config, splits, epochs):
    cfg = TrainConfig(window=150, hop=75, epochs=epochs, lr=config["lr"], early_stop_patience=100)
    with tempfile.TemporaryDirectory() as tmp:
        train(model_config("tagf", **MODEL), cfg, splits=splits, out_dir=tmp, callbacks=[TuneReporter("-")])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    splits = {"train": random_split(rng, 4, 900), "selection": random_split(rng, 1, 900)}
    lrs = [1e-3 * (i + 1) for i in range(args.trials)]

    start = time.perf_counter()
    for lr in lrs:
        cfg = TrainConfig(window=150, hop=75, epochs=args.epochs, lr=lr, early_stop_patience=100)
        with tempfile.TemporaryDirectory() as tmp:
            train(model_config("tagf", **MODEL), cfg, splits=splits, out_dir=tmp, callbacks=[])
    plain = time.perf_counter() - start

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    timings = {}
    for concurrent in (1, 2):
        with tempfile.TemporaryDirectory() as storage:
            start = time.perf_counter()
            tune.Tuner(
                tune.with_resources(
                    tune.with_parameters(one_trial, splits=splits, epochs=args.epochs),
                    {"cpu": os.cpu_count() // concurrent},
                ),
                param_space={"lr": tune.grid_search(lrs)},
                tune_config=tune.TuneConfig(max_concurrent_trials=concurrent),
                run_config=tune.RunConfig(storage_path=storage, verbose=0),
            ).fit()
            timings[concurrent] = time.perf_counter() - start
    print(f"{args.trials} trials x {args.epochs} epochs, {os.cpu_count()} CPUs")
    print(f"in-process, no Ray (baseline)   {plain:7.1f} s   1.00x")
    print(f"Ray Tune, 1 trial at a time     {timings[1]:7.1f} s   {timings[1] / plain:.2f}x  (overhead)")
    print(f"Ray Tune, 2 trials at a time    {timings[2]:7.1f} s   {timings[2] / plain:.2f}x")


if __name__ == "__main__":
    main()
