"""Ray Tune's fixed cost per trial: the same training trials run in-process without Ray, then as the platform's
Tune trials (orchestration.trial.run_trial through the Driver, as `tagf sweep` and `tagf ablate` run them).

    RAY_AUTH_MODE=disabled python benchmarks/tune_overhead.py [--trials 9] [--epochs 2] [--frames 900] [--serial-only]

Random features at the paper's sizes (in memory), a small TAGF (length-agnostic, L=150), MLflow in a temporary
SQLite store. Every trial trains on one CPU thread (on a loaded machine, two torch threads per trial cost ten times
more than one). Tune runs the trials one at a time: the same training as in-process, so the difference is the fixed
cost around it (actor start-up and imports, the object-store fetch of the splits, the MLflow child run, per-epoch
reports, checkpoint persistence, closing the run with its model); then two at a time on one thread each, against
one at a time on two threads (the same two CPUs: which way of using them is faster). A one-trial experiment apart
splits that cost into what each trial pays and what the first trial pays alone (with actors reused, their start-up
and imports). The in-process trials are timed before and after Tune and averaged, as other load drifts; the baseline
adds torch's first-use warm-up once, as a fresh process (and Tune's first trial) pays it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.driver import Driver
from orchestration.params import validate
from orchestration.ray_cluster import connect
from orchestration.tracking import setup
from orchestration.trial import TrialContext, trial_setup
from tagf.data.feature_store import SplitArrays
from tagf.training.trainer import train

MODEL = dict(
    variant="tagf",
    key_mode="length_agnostic",
    window=150,
    visual_channels=[128, 64],
    audio_channels=[64, 64],
    head_hidden=64,
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
        fps={f"v{i}": 30.0 for i in range(videos)},
    )


def in_process(configs: list[dict], splits: dict, context: TrialContext) -> float:
    start = time.perf_counter()
    for config in configs:
        setup, _ = trial_setup(config, context)
        with tempfile.TemporaryDirectory() as tmp:
            train(setup.model, setup.train, splits=splits, out_dir=tmp, callbacks=[], label=setup.label)
    return time.perf_counter() - start


def as_tune_trials(driver: Driver, context: TrialContext, configs: list[dict], name: str) -> float:
    start = time.perf_counter()
    results = tune.Tuner(
        driver.trainable(context),
        param_space={"train.lr": tune.grid_search([c["train.lr"] for c in configs])},
        tune_config=driver.tune_config(),
        run_config=driver.run_config(name),
    ).fit()
    wall = time.perf_counter() - start
    if results.errors:
        raise RuntimeError(f"{name}: {results.errors[0]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=9)  # an ablation: 9 variants, 1 seed; at least 2
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--frames", type=int, default=900, help="frames per video (2 training videos, 1 selection)"
    )
    parser.add_argument(
        "--serial-only", action="store_true", help="skip the two-at-a-time and two-thread runs (the CI smoke)"
    )
    args = parser.parse_args()
    if args.trials < 2:
        parser.error("--trials: at least 2 (the cost each trial after the first pays is a difference of two)")
    rng = np.random.default_rng(0)
    splits = {"train": random_split(rng, 2, args.frames), "selection": random_split(rng, 1, args.frames)}
    configs = [{"train.lr": 1e-3 * (i + 1)} for i in range(args.trials)]
    cpus = os.cpu_count()
    torch.set_num_threads(1)  # as a Ray actor with one CPU has

    with tempfile.TemporaryDirectory() as tmp:
        uri, experiment_id = setup(f"sqlite:///{tmp}/mlflow.db", "tune-overhead")
        parent = MlflowClient(uri).create_run(experiment_id).info.run_id

        def driver(concurrent: int, threads: int = 1) -> Driver:
            params = validate(
                {
                    "model": MODEL,
                    "train": {"window": 150, "hop": 75, "epochs": args.epochs, "early_stop_patience": 100},
                    "sweep": {
                        "max_concurrent": concurrent,
                        "cpus_per_trial": threads,  # a trial's torch threads are its CPUs
                        "max_failures": 0,
                        "storage": f"{tmp}/ray_results",
                    },
                },
                "benchmark",
            )
            return Driver(params, uri, experiment_id, {}, splits)

        context = driver(1).context(parent)
        warm_up = in_process(configs[:1], splits, context)  # with torch's first use, paid once per process
        before = in_process(configs, splits, context)
        connect(num_cpus=cpus)
        single = as_tune_trials(driver(1), context, configs[:1], "single")
        serial = as_tune_trials(driver(1), context, configs, "serial")
        pairs = None if args.serial_only else as_tune_trials(driver(2), context, configs, "pairs")
        wide = None
        if cpus >= 2 and not args.serial_only:
            two = driver(1, threads=2)
            wide = as_tune_trials(two, two.context(parent), configs, "wide")
        after = in_process(configs, splits, context)
    trials, one = args.trials, (before + after) / 2 / args.trials
    plain = one * trials + warm_up - one  # as a fresh process runs them: torch's first use once, as Tune does
    print(f"{trials} trials x {args.epochs} epochs, one CPU thread each, {cpus} CPUs")
    row("in-process, no Ray (baseline)", plain, f"1.00x  (of which torch's first use {warm_up - one:.1f} s)")
    row("Ray Tune, 1 at a time", serial, f"{serial / plain:.2f}x")
    if pairs is not None:
        row(
            "Ray Tune, 2 at a time", pairs, f"{pairs / plain:.2f}x  (ablate.max_concurrent: 2, 1 thread each)"
        )
    if wide is not None:
        row("Ray Tune, 1 at a time, 2 threads", wide, f"{wide / plain:.2f}x  (the same 2 CPUs to one trial)")
    row("fixed cost per trial", (serial - plain) / trials, "(1 at a time less in-process, / trials)")
    row("  paid by each trial", (serial - single) / (trials - 1) - one, "(each after the first)")
    row("  paid once per experiment", single - warm_up, "(by the first trial: actor start-up, imports, ...)")


def row(label: str, seconds: float, note: str) -> None:
    print(f"{label:<31}{seconds:7.2f} s  {note}")


if __name__ == "__main__":
    main()
