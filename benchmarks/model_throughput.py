"""Training-step throughput (forward + backward + optimizer step) per fusion variant at the paper's shape.

    python benchmarks/model_throughput.py [--steps 5] [--variants tagf,rjcma] [--compile]

Prints frames/s per variant and, for TAGF, the ratio against a straightforward eager implementation laid out like
the authors' code (tagf.reference.authors), measured in the same process. On a GPU it uses bf16 autocast.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from tagf.metrics import ccc_loss
from tagf.models import VARIANTS, build_model, model_config
from tagf.reference.authors import LFAN

warnings.filterwarnings("ignore", message=".*weight_norm.*")  # the baseline uses the old API on purpose


def steps_per_second(model, forward, batch, steps: int, device: torch.device) -> float:
    visual, audio, target, mask = batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)  # a compiled model shares its parameters
    model.train()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            prediction = forward(model, visual, audio)
        ccc_loss(prediction.float(), target, mask).backward()
        optimizer.step()

    for _ in range(2):  # warm-up (and compilation)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of our TAGF")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    b, length = args.batch, args.window
    batch = (
        torch.randn(b, length, 512, device=device),
        torch.randn(b, length, 128, device=device),
        torch.rand(b, length, 1, device=device) * 2 - 1,
        torch.ones(b, length, dtype=torch.bool, device=device),
    )
    frames = b * length
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} B={b} L={length}")

    baseline = LFAN(window=length, outputs=1).to(device)
    base_rate = steps_per_second(baseline, lambda m, v, a: m(v, a), batch, args.steps, device)
    print(f"{'authors-style eager TAGF (baseline)':<38} {base_rate * frames:>10.0f} frames/s   1.00x")

    rows = [(name, model_config(name, outputs=1, window=length), False) for name in args.variants.split(",")]
    if args.compile:
        rows.append(("tagf + torch.compile", model_config("tagf", outputs=1, window=length), True))
    for name, cfg, compiled in rows:
        model = build_model(cfg).to(device)
        forward_model = torch.compile(model) if compiled else model
        rate = steps_per_second(forward_model, lambda m, v, a: m(v, a).prediction, batch, args.steps, device)
        print(f"{name:<38} {rate * frames:>10.0f} frames/s   {rate / base_rate:.2f}x")


if __name__ == "__main__":
    main()
