"""Feature-store read throughput: frames/s from a local Parquet store into training window arrays.

    python benchmarks/feature_store_read.py [--frames 1000000]

Writes a synthetic store of the paper's feature sizes (512 + 128, float16) in a temporary directory, then times
(1) reading a split into memory and (2) gathering every 300/200 window from it as float32 tensors, against a
baseline of loading the same arrays from a raw .npy file, in the same process. Single-threaded (one core) for the per-core figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from tagf.data.feature_store import read_split, schema, write_store
from tagf.data.windows import Windows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--video-frames", type=int, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    rng = np.random.default_rng(0)
    n, per = args.frames, args.video_frames
    visual = rng.normal(size=(n, 512)).astype(np.float16)
    audio = rng.normal(size=(n, 128)).astype(np.float16)
    table = pa.table(
        {
            "video": [f"v{i // per:05d}" for i in range(n)],
            "frame": (np.arange(n) % per + 1).astype(np.int32),
            "valence": rng.uniform(-1, 1, n).astype(np.float32),
            "arousal": rng.uniform(-1, 1, n).astype(np.float32),
            "label_valid": np.ones(n, bool),
            "visual": pa.FixedSizeListArray.from_arrays(visual.ravel(), 512),
            "visual_valid": np.ones(n, bool),
            "audio": pa.FixedSizeListArray.from_arrays(audio.ravel(), 128),
        }
    ).cast(schema(512, 128, "float16"))
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        fps = {f"v{i:05d}": 30.0 for i in range((n + per - 1) // per)}
        write_store(store, {"train": table}, fps, {"dims": {"visual": 512, "audio": 128}, "dtype": "float16"})
        np.save(Path(tmp) / "baseline.npy", np.concatenate([visual, audio], axis=1))

        start = time.perf_counter()
        baseline = np.load(Path(tmp) / "baseline.npy")
        t_npy = time.perf_counter() - start

        start = time.perf_counter()
        split = read_split(store, "train")
        t_read = time.perf_counter() - start

        start = time.perf_counter()
        windows = Windows(split, length=300, hop=200)
        covered = 0
        for batch in windows.batches(64):
            covered += int(batch.frame_mask.sum())
        t_windows = time.perf_counter() - start
    del baseline
    print(f"frames={n} videos={n // per} features=512+128 float16, 1 thread")
    print(f"raw .npy load (baseline)            {n / t_npy:>12,.0f} frames/s")
    print(
        f"parquet store -> arrays             {n / t_read:>12,.0f} frames/s   {t_npy / t_read:.2f}x baseline"
    )
    print(f"arrays -> all 300/200 windows       {covered / t_windows:>12,.0f} window-frames/s")
    print(f"store -> windows end to end         {n / (t_read + t_windows):>12,.0f} frames/s")


if __name__ == "__main__":
    main()
