"""Training-step speed (forward + backward + Adam) of our faithful TAGF against the authors' code.

    python benchmarks/model_throughput.py [--rounds 7] [--shapes 3x300,12x300] [--threads 1,2] [--bf16]
                                          [--variants rjcma,concat] [--compile]

The baseline is reference.authors.LFAN, a line-by-line rewrite of the authors' model; ours is converted from
its weights (so both compute the same function) and trained on the same batch. For every thread count and
batch×window shape, the models take turns, one step each, for `--rounds` rounds after a warm-up; the speed-up
printed is the median over rounds of (authors' step time / ours), in wall-clock and in CPU time, so that load
from other processes hits both alike. `--bf16` adds our model under bf16 autocast (train.precision=bf16), still
against the authors' fp32 step. `--variants` adds other fusion variants (fresh weights) against the same
baseline; `--compile` adds torch.compile of our TAGF. On a GPU every row runs under bf16 autocast, as training
does there. Each row also shows the FLOPs torch.utils.flop_counter counts in the step, and the speed at which it
does the authors' step's work (their FLOPs: the same function) as a share of this machine's matmul rate, measured in
the same run at the same thread count (fp32 n×n sgemm, `--matmul-n`): the gap between the model and what the machine
can do. The counter has no formula for oneDNN's LSTM layer (the authors' gates' nn.LSTM), so the benchmark gives it
one (LSTM_FLOPS); without it their gates count as free and ours, whose step BiLSTM is written out as matmuls, in
full: the "20 % more FLOPs than the authors'" an earlier count showed was that, not arithmetic of ours.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from tagf.metrics import ccc_loss
from tagf.models import build_model, from_official_state_dict, model_config

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository's reference/, not in the package
from reference.authors import LFAN  # noqa: E402
from tagf.training.precision import autocast, cpu_supports_bf16

warnings.filterwarnings("ignore", message=".*weight_norm.*")  # the baseline uses the old API on purpose


def train_step(model, forward, batch, precision: str, device: torch.device):
    """One step's closure: zero grads, forward under `precision`, CCC loss, backward, Adam."""
    visual, audio, target, mask = batch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-3)  # the trainer's, the paper's
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, device):
            prediction = forward(model, visual, audio)
        ccc_loss(prediction.float(), target, mask).backward()
        optimizer.step()

    return step


def timed(step, device: torch.device) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of one step; CPU time is what other processes' load disturbs least."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def _lstm_layer_flops(input_shape, weight0_shape, weight1_shape) -> int:
    """One direction of one LSTM layer over a sequence: per frame, 4 gates of (input + hidden) × hidden
    multiply-adds."""
    frames = input_shape[0] * input_shape[1]
    gates, inputs = weight0_shape
    return 2 * frames * gates * (inputs + weight1_shape[1])


def _rnn_forward(input, weight0, weight1, *args, out_shape=None, **kwargs) -> int:
    return _lstm_layer_flops(input, weight0, weight1)


def _rnn_backward(input, weight1, weight2, *args, out_shape=None, **kwargs) -> int:
    return 2 * _lstm_layer_flops(input, weight1, weight2)  # gradients of the inputs and of the weights


# torch's FLOP counter has no formula for oneDNN's LSTM layer (nn.LSTM on a CPU, as the authors' gates use): it
# would count their gates as free and ours (matmuls we write out) in full. These give it the same arithmetic.
LSTM_FLOPS = {
    torch.ops.aten.mkldnn_rnn_layer: _rnn_forward,
    torch.ops.aten.mkldnn_rnn_layer_backward: _rnn_backward,
}


def step_flops(step) -> int | None:
    """FLOPs of one step (forward and backward), None where the counter cannot trace it (a compiled model)."""
    try:
        with FlopCounterMode(display=False, custom_mapping=LSTM_FLOPS) as counter:
            step()
    except Exception:  # noqa: BLE001 - the counter's tracing limits are the counter's, not the model's
        return None
    return counter.get_total_flops()


def matmul_rate(n: int, device: torch.device, rounds: int = 5) -> float:
    """FLOP/s of an n×n fp32 matrix product at the current thread count: what the machine's kernels can reach."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    seconds = statistics.median(timed(lambda: a @ b, device)[0] for _ in range(rounds))
    return 2 * n**3 / seconds


def compare(b: int, length: int, args, device: torch.device, rate: float) -> None:
    torch.manual_seed(0)
    batch = (
        torch.randn(b, length, 512, device=device),
        torch.randn(b, length, 128, device=device),
        torch.rand(b, length, 1, device=device) * 2 - 1,
        torch.ones(b, length, dtype=torch.bool, device=device),
    )
    gpu_precision = "auto" if device.type == "cuda" else "fp32"
    authors = LFAN(window=length, outputs=1).to(device)
    ours = from_official_state_dict(authors.state_dict()).to(device)
    steps = {
        "authors' code (baseline)": train_step(authors, lambda m, v, a: m(v, a), batch, gpu_precision, device)
    }
    prediction = lambda m, v, a: m(v, a).prediction  # noqa: E731
    steps["ours, faithful TAGF"] = train_step(ours, prediction, batch, gpu_precision, device)
    if args.bf16:
        steps["ours, bf16 autocast"] = train_step(
            from_official_state_dict(authors.state_dict()).to(device), prediction, batch, "bf16", device
        )
    for name in filter(None, args.variants.split(",")):
        model = build_model(model_config(name, outputs=1, window=length)).to(device)
        steps[name] = train_step(model, prediction, batch, gpu_precision, device)
    if args.compile:
        compiled = torch.compile(from_official_state_dict(authors.state_dict()).to(device))
        steps["ours + torch.compile"] = train_step(compiled, prediction, batch, gpu_precision, device)

    flops = {name: step_flops(step) for name, step in steps.items()}  # also a first warm-up step
    for _ in range(2):  # warm-up (and compilation)
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(timed(step, device))
    base = times["authors' code (baseline)"]
    print(
        f"threads={torch.get_num_threads()} B×L={b}×{length} ({args.rounds} rounds, medians; speed-up vs baseline; "
        f"matmul {rate / 1e9:.1f} GFLOP/s)"
    )
    work = flops["authors' code (baseline)"]  # the function's arithmetic, as the authors' code does it
    for name, ts in times.items():
        wall, cpu = (statistics.median(t0[i] / t[i] for t0, t in zip(base, ts)) for i in (0, 1))
        seconds = statistics.median(t[0] for t in ts)
        achieved = (
            f"{flops[name] / 1e9:>7.1f} GFLOP counted; the authors' {work / 1e9:.1f} GFLOP of work at "
            f"{work / seconds / 1e9:>6.1f} GFLOP/s = {work / seconds / rate:>4.0%} of matmul"
            if flops[name] and work
            else "FLOPs not countable"
        )
        print(
            f"  {name:<28} {seconds * 1e3:>8.0f} ms/step {b * length / seconds:>8.0f} frames/s   wall {wall:.2f}x"
            f"   cpu {cpu:.2f}x   {achieved}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per model (alternating)")
    parser.add_argument("--shapes", default="3x300,12x300", help="batch×window pairs")
    parser.add_argument("--threads", default="1,2", help="torch thread counts (CPU)")
    parser.add_argument("--bf16", action="store_true", help="also time ours under bf16 autocast")
    parser.add_argument("--variants", default="", help="other fusion variants to time, e.g. rjcma,concat")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of our TAGF")
    parser.add_argument(
        "--matmul-n", type=int, default=2048, help="size of the matmul that measures the machine"
    )
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.bf16 and device.type == "cpu" and not cpu_supports_bf16():
        print("this CPU has no native bf16 (AVX512-BF16 or AMX): the bf16 row is left out")
        args.bf16 = False
    print(f"device={device} torch={torch.__version__} cpu={torch.backends.cpu.get_cpu_capability()}")
    threads = [int(t) for t in args.threads.split(",")] if device.type == "cpu" else [torch.get_num_threads()]
    for count in threads:
        torch.set_num_threads(count)
        rate = matmul_rate(args.matmul_n, device)
        for shape in args.shapes.split(","):
            b, length = (int(x) for x in shape.split("x"))
            compare(b, length, args, device, rate)


if __name__ == "__main__":
    main()
