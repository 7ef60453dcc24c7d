"""End-to-end training-epoch throughput: feature store → windows → TAGF training step → validation.

    python benchmarks/epoch_throughput.py [--videos 8] [--variant tagf]

Writes a feature store of random features at the paper's sizes (512 + 128, float16; 1500-frame videos) to a
temporary directory, runs one epoch of `tagf.training.train` at the paper's settings (L=300, hop 200, batch 12),
and prints the training frames/s and the whole epoch time (incl. store reading and validation). The baseline is the
bare model step (forward + backward + optimizer on one fixed batch) measured in the same process: the ratio shows
what the data pipeline and bookkeeping cost on top of the model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, str(Path(__file__).parent))
from model_throughput import timed, train_step  # noqa: E402

from tagf.data.feature_store import schema, write_store  # noqa: E402
from tagf.models import build_model, model_config  # noqa: E402
from tagf.training.config import TrainConfig  # noqa: E402
from tagf.training.trainer import train  # noqa: E402


def random_split(rng: np.random.Generator, videos: int, frames: int, offset: int) -> pa.Table:
    n = videos * frames
    return pa.table(
        {
            "video": [f"v{offset + i // frames:04d}" for i in range(n)],
            "frame": (np.arange(n) % frames + 1).astype(np.int32),
            "valence": rng.uniform(-1, 1, n).astype(np.float32),
            "arousal": rng.uniform(-1, 1, n).astype(np.float32),
            "label_valid": rng.random(n) > 0.03,
            "visual": pa.FixedSizeListArray.from_arrays(rng.normal(size=n * 512).astype(np.float16), 512),
            "visual_valid": np.ones(n, bool),
            "audio": pa.FixedSizeListArray.from_arrays(rng.normal(size=n * 128).astype(np.float16), 128),
        }
    ).cast(schema(512, 128, "float16"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--videos", type=int, default=8, help="training videos of 1500 frames (validation: 1/4)"
    )
    parser.add_argument("--variant", default="tagf")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = TrainConfig(epochs=1, warmup_epochs=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        tables = {
            "train": random_split(rng, args.videos, 1500, 0),
            "validation": random_split(rng, max(1, args.videos // 4), 1500, 1000),
        }
        fps = {v: 30.0 for t in tables.values() for v in set(t.column("video").to_pylist())}
        write_store(store, tables, fps, {"dims": {"visual": 512, "audio": 128}, "dtype": "float16"})
        start = time.perf_counter()
        result = train(model_config(args.variant), cfg, store=store, callbacks=[])
        epoch_s = time.perf_counter() - start
    torch.manual_seed(0)
    batch = (
        torch.randn(12, 300, 512, device=device),
        torch.randn(12, 300, 128, device=device),
        torch.rand(12, 300, 2, device=device) * 2 - 1,
        torch.ones(12, 300, dtype=torch.bool, device=device),
    )
    model = build_model(model_config(args.variant)).to(device)
    step = train_step(model, lambda m, v, a: m(v, a).prediction, batch, "fp32", device)
    step()  # warm-up
    bare = 12 * 300 / statistics.median(timed(step, device)[0] for _ in range(3))
    train_fps = result.history[0]["train_frames_per_s"]
    frames = tables["train"].num_rows
    print(f"device={device} variant={args.variant} train frames={frames} (windows 300/200, batch 12)")
    print(f"bare model step (baseline)        {bare:>10.0f} frames/s")
    print(
        f"training loop, one epoch          {train_fps:>10.0f} window-frames/s   {train_fps / bare:.2f}x baseline"
    )
    print(f"whole epoch incl. read + validate {epoch_s:>10.1f} s  ({frames / epoch_s:.0f} video frames/s)")


if __name__ == "__main__":
    main()
