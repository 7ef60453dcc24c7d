"""One copy of the data per node: the memory a split costs to read, and what each added trial on a node adds.

    RAY_AUTH_MODE=disabled python benchmarks/shared_data.py [--frames 1500000] [--trials 1,2,4] [--read-rows 65536,8192]

Writes an Aff-Wild2-sized synthetic feature store (`--frames` training frames of 512 + 128 float16 features, as
IR-50 and VGGish give, in 1,500-frame videos; Aff-Wild2's Train has about 1.65 M frames) with tagf's own
`write_store`, then:

1. reads its train split in a fresh process and reports the peak RSS against the arrays' size (the read streams
   the file's batches into arrays allocated once: tagf.data.feature_store.read_split);
2. runs 1, 2 and 4 concurrent Ray Tune trials on a local node that each receive the split through
   `tune.with_parameters` (one object in the node's object store) and touch every byte of it: each trial reports
   the memory only it holds (USS), less what a trial holding no data holds (its interpreter, torch, Ray); what is
   left is that trial's private share of the data, against one copy of the arrays;
3. times one epoch of the paper profile's TAGF on a 20,000-frame slice, per 1,000 frames, on this CPU (Aff-Wild2's
   epoch follows by proportion).

Prints the CPU and every figure; the sizes are the script's arguments, so a smaller `--frames` is a quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from tagf import runtime
from tagf.data.feature_store import READ_ROWS, read_split, schema, write_store

VIDEO_FRAMES = 1500


def write_synthetic_store(url: str, frames: int) -> None:
    rng = np.random.default_rng(0)
    names = [f"v{i // VIDEO_FRAMES:05d}" for i in range(frames)]
    table = pa.table(
        {
            "video": names,
            "frame": (np.arange(frames) % VIDEO_FRAMES + 1).astype(np.int32),
            "valence": rng.uniform(-1, 1, frames).astype(np.float32),
            "arousal": rng.uniform(-1, 1, frames).astype(np.float32),
            "label_valid": np.ones(frames, bool),
            "visual": pa.FixedSizeListArray.from_arrays(
                rng.normal(size=frames * 512).astype(np.float16), 512
            ),
            "visual_valid": np.ones(frames, bool),
            "audio": pa.FixedSizeListArray.from_arrays(rng.normal(size=frames * 128).astype(np.float16), 128),
        }
    ).cast(schema(512, 128, "float16"))
    fps = dict.fromkeys(dict.fromkeys(names), 30.0)
    write_store(url, {"train": table}, fps, {"dims": {"visual": 512, "audio": 128}, "dtype": "float16"})


def read_peak(store: str, read_rows: int) -> dict:
    """In a fresh process: the split's arrays in bytes, and the process's peak RSS while reading them `read_rows`
    rows at a time (tagf.data.feature_store.READ_ROWS)."""
    # The peak of this process's own memory (VmHWM) over what it held before reading (VmRSS): getrusage's ru_maxrss survives fork and exec on Linux, so a
    # child of a process that has just written a large store would report the writer's peak as its own.
    code = (
        "import json\n"
        "import tagf.data.feature_store as feature_store\n"
        "from tagf.data.feature_store import read_split\n"
        f"feature_store.READ_ROWS = {int(read_rows)}\n"
        "def status(field):\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ':'))\n"
        "before = status('VmRSS')\n"
        f"split = read_split({store!r}, 'train')\n"
        "arrays = sum(a.nbytes for a in (split.visual, split.audio, split.labels, split.label_valid,"
        " split.visual_valid, split.frames))\n"
        "print(json.dumps({'arrays': arrays, 'peak_rss': status('VmHWM'), 'before': before}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def holding_trial(config: dict, split=None) -> None:
    """A trial that reads every byte of the shared split, then says how much memory only it holds."""
    import psutil
    from ray import tune

    checksum = float(split.visual[::997].astype(np.float32).sum() + split.audio.sum(dtype=np.float32))
    for name in ("visual", "audio", "labels"):
        np.asarray(getattr(split, name)).max()  # touches every page
    time.sleep(config["hold_s"])  # the other trials of this round are holding theirs too
    tune.report({"uss": psutil.Process().memory_full_info().uss, "checksum": checksum})


def trials_memory(store: str, counts: list[int]) -> list[dict]:
    import ray
    from ray import tune

    split = read_split(store, "train")
    arrays = split.visual.nbytes + split.audio.nbytes + split.labels.nbytes
    ray.init(address="local", num_cpus=max(counts), include_dashboard=False, log_to_driver=False)

    def round_of(count: int, data) -> list[int]:
        results = tune.Tuner(
            tune.with_resources(tune.with_parameters(holding_trial, split=data), {"cpu": 1}),
            param_space={"hold_s": 5.0, "k": tune.grid_search(list(range(count)))},
            tune_config=tune.TuneConfig(max_concurrent_trials=count),
            run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0),
        ).fit()
        return [r.metrics["uss"] for r in results]

    rows = []
    try:
        # What a trial holds with no data to speak of (its interpreter, torch, Ray): not the data's cost.
        (empty,) = round_of(1, split.select(split.videos[:1]))
        for count in counts:
            uss = round_of(count, split)
            rows.append({"trials": count, "arrays": arrays, "trial_uss": uss, "empty_trial": empty})
    finally:
        ray.shutdown()
    return rows


def epoch_per_thousand(store: str) -> float:
    from tagf.params import RunParams
    from tagf.training.trainer import train

    split = read_split(store, "train")
    videos = split.videos[: max(1, 20_000 // VIDEO_FRAMES)]
    part = split.select(videos)
    half = len(videos) // 2 or 1
    splits = {
        "train": part.select(videos[:half] or videos),
        "selection": part.select(videos[half:] or videos),
    }
    setup = RunParams(profile="paper").setup("tagf", train={"epochs": 1, "device": "cpu"})
    start = time.perf_counter()
    train(setup.model, setup.train, splits=splits, callbacks=[])
    frames = len(splits["train"].frames)
    return (time.perf_counter() - start) / frames * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_500_000)
    parser.add_argument("--trials", default="1,2,4")
    parser.add_argument("--no-epoch", action="store_true", help="skip the paper-profile epoch timing")
    parser.add_argument(
        "--read-rows",
        default=str(READ_ROWS),
        help=f"rows decoded at a time, a list to compare (default {READ_ROWS})",
    )
    args = parser.parse_args()
    runtime.use_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        started = time.perf_counter()
        write_synthetic_store(store, args.frames)
        print(
            f"{runtime.cpu_model()}: wrote a {args.frames:,}-frame store in {time.perf_counter() - started:.0f} s"
        )
        gib = 2**30
        for read_rows in [int(r) for r in args.read_rows.split(",")]:
            read = read_peak(store, read_rows)
            grown = read["peak_rss"] - read["before"]
            # The arrays themselves are resident at the end: a smaller peak is no measure.
            if grown < read["arrays"]:
                raise SystemExit(
                    f"read_split: peak grew {grown} bytes, less than its arrays {read['arrays']}"
                )
            print(
                f"read_split, {read_rows:,} rows at a time: arrays {read['arrays'] / gib:.2f} GiB; the process's peak "
                f"RSS grew by {grown / gib:.2f} GiB while reading = {grown / read['arrays']:.2f}x the arrays (from "
                f"{read['before'] / gib:.2f} GiB of interpreter and imports)"
            )
        rows = trials_memory(store, [int(c) for c in args.trials.split(",")])
        for row in rows:
            data = [uss - row["empty_trial"] for uss in row["trial_uss"]]
            print(
                f"{row['trials']} trial(s) on one node: the arrays {row['arrays'] / gib:.2f} GiB once in the object "
                f"store; each trial holds {row['empty_trial'] / gib:.2f} GiB with no data plus "
                f"{max(data) / gib:.3f} GiB at most for these ({max(data) / row['arrays']:.3f} of a copy): the node "
                f"holds {(row['arrays'] + sum(data)) / gib:.2f} GiB of data for {row['trials']} trial(s)"
            )
        if not args.no_epoch:
            print(
                f"paper-profile TAGF, 1 thread: {epoch_per_thousand(store):.2f} s per 1,000 training frames an epoch"
            )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    sys.exit(main())
