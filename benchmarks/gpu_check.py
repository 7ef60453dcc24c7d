"""One-shot GPU check, one table: what tagf does on a CUDA device (run it whenever a GPU is lent; `--cpu` is its
smoke test, tiny and on the CPU, which CI runs so that it cannot rot).

    python benchmarks/gpu_check.py [--cpu] [--wheels DIR]

1. **Training step**, ours against the authors' (reference/authors.py, the same function from the same weights), at
   12×300 in fp32 and under bf16 autocast: frames/s and peak GPU memory.
2. **The reproducible switch on CUDA**: deterministic algorithms and CUBLAS_WORKSPACE_CONFIG=:4096:8, two fresh
   processes training the same tiny TAGF: the same bytes?
3. **Four trials sharing one GPU**, as sweep.gpus_per_trial 0.25 places them: four concurrent trial processes (the
   GPU machines we borrow have no Ray or MLflow; where Ray is, `tagf sweep` runs them through Tune): wall time and
   how many finished. `--cpu` runs two.
4. **Extraction**: IR-50 (112 px faces) and VGGish (0.96 s log-mel patches) frames/s, on weights made here
   (nothing downloads).

`--wheels DIR`: pip-install what tagf needs and the machine lacks (pydantic) from wheels brought along.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tagf and reference/ from this checkout
CUBLAS = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def ensure_packages(wheels: str | None) -> None:
    try:
        import pydantic  # noqa: F401
    except ImportError:
        if wheels is None:
            sys.exit("gpu_check: tagf needs pydantic, which is not installed: give --wheels DIR")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "pydantic"],
            check=True,
        )


def step_rows(device, batch: int, length: int, rounds: int) -> list[tuple[str, str, str]]:
    """(model, frames/s, peak memory) of a training step of ours and the authors' in fp32 and bf16."""
    import torch

    from benchmarks.model_throughput import timed, train_step
    from reference.authors import LFAN
    from tagf.models import from_official_state_dict

    torch.manual_seed(0)
    batch_tensors = (
        torch.randn(batch, length, 512, device=device),
        torch.randn(batch, length, 128, device=device),
        torch.rand(batch, length, 1, device=device) * 2 - 1,
        torch.ones(batch, length, dtype=torch.bool, device=device),
    )
    authors = LFAN(window=length, outputs=1).to(device)
    rows = []
    for precision in ("fp32", "bf16"):
        for name, model, forward in (
            ("authors'", authors, lambda m, v, a: m(v, a)),
            (
                "ours",
                from_official_state_dict(authors.state_dict()).to(device),
                lambda m, v, a: m(v, a).prediction,
            ),
        ):
            step = train_step(model, forward, batch_tensors, precision, device)
            step()  # warm-up
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = sorted(timed(step, device)[0] for _ in range(rounds))[rounds // 2]
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
            rows.append(
                (
                    f"step {name} {precision} {batch}x{length}",
                    f"{batch * length / seconds:,.0f} frames/s",
                    f"{peak:,.0f} MiB",
                )
            )
    return rows


TINY_TRAIN = """
import hashlib, sys, numpy as np, torch
sys.path.insert(0, {root!r})
from tagf import runtime
from tagf.data.feature_store import SplitArrays
from tagf.params import RunParams
from tagf.training.trainer import train
runtime.use_threads(1)
rng = np.random.default_rng(0)
n, videos = 1200, 4
def split(o):
    return SplitArrays(videos=[f"v{{o+i}}" for i in range(videos)], offsets=np.arange(videos + 1) * (n // videos),
        visual=rng.normal(size=(n, 512)).astype(np.float16), audio=rng.normal(size=(n, 128)).astype(np.float16),
        labels=rng.uniform(-1, 1, (n, 2)).astype(np.float32), label_valid=np.ones(n, bool),
        visual_valid=np.ones(n, bool), frames=np.tile(np.arange(1, n // videos + 1), videos).astype(np.int32),
        fps={{f"v{{o+i}}": 30.0 for i in range(videos)}})
setup = RunParams(profile="small").setup("tagf", train={{"epochs": {epochs}, "device": {device!r}, "precision": "fp32"}})
result = train(setup.model, setup.train, splits={{"train": split(0), "selection": split(videos)}}, callbacks=[])
state = result.model.state_dict()
print(hashlib.sha256(b"".join(state[k].float().cpu().numpy().tobytes() for k in sorted(state))).hexdigest()[:16])
"""


def reproducible_rows(device: str, epochs: int) -> list[tuple[str, str, str]]:
    """Two fresh processes, reproducible switch and cuBLAS's deterministic workspace: the same model bytes?"""
    env = {**os.environ, "TAGF_REPRODUCIBLE": "1", **CUBLAS, "PYTHONWARNINGS": "ignore"}
    code = TINY_TRAIN.format(root=str(ROOT), epochs=epochs, device=device)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    same = "the same bytes" if runs[0] == runs[1] else "DIFFERENT bytes"
    return [("reproducible switch, two runs", same, f"{runs[0]} / {runs[1]}")]


def shared_rows(device: str, epochs: int, trials: int) -> list[tuple[str, str, str]]:
    """Trials on one device at once (four on a GPU, as at gpus_per_trial 0.25), as concurrent processes."""
    try:
        import ray  # noqa: F401

        how = f"{trials} concurrent trial processes (Ray is installed: `tagf sweep` with gpus_per_trial 0.25 for Tune)"
    except ImportError:
        how = f"{trials} concurrent trial processes (no Ray on this machine)"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    code = TINY_TRAIN.format(root=str(ROOT), epochs=epochs, device=device)
    start = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(trials)
    ]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    ok = sum(p.returncode == 0 and bool(o.strip()) for p, o in zip(procs, outputs))
    return [(f"{trials} trials sharing the device", f"{wall:.1f} s wall, {ok}/{trials} finished", how)]


def extraction_rows(device, frames: int) -> list[tuple[str, str, str]]:
    import torch

    from tagf.features.iresnet import INPUT_PX, IRResNet50
    from tagf.features.vggish import VGGish

    rows = []
    for name, model, shape in (
        ("IR-50", IRResNet50(False), (frames, 3, INPUT_PX, INPUT_PX)),
        ("VGGish", VGGish(False), (frames, 96, 64)),
    ):
        model = model.to(device).eval()
        x = torch.randn(*shape, device=device)
        with torch.inference_mode():
            model(x[:2])
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        rows.append(
            (
                f"extraction {name}",
                f"{frames / (time.perf_counter() - start):,.0f} frames/s",
                f"batch {frames}",
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny, on the CPU: the smoke test")
    parser.add_argument("--wheels", help="a folder of wheels for what tagf needs and the machine lacks")
    args = parser.parse_args()
    ensure_packages(args.wheels)
    import torch

    if not args.cpu and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here (`--cpu` runs the smoke test)")
    device = torch.device("cpu" if args.cpu else "cuda")
    name = "CPU (smoke test)" if args.cpu else torch.cuda.get_device_name(0)
    batch, length, rounds, epochs, frames, trials = (
        (1, 32, 1, 1, 8, 2) if args.cpu else (12, 300, 5, 3, 512, 4)
    )
    rows = [
        *step_rows(device, batch, length, rounds),
        *reproducible_rows(device.type, epochs),
        *shared_rows(device.type, epochs, trials),
        *extraction_rows(device, frames),
    ]
    print(f"| {name}, torch {torch.__version__} | value | detail |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(json.dumps({"device": name, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
