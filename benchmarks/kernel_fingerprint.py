"""Find what differs between machines: the bytes of every kind of computation a training step does, per setting.

    python benchmarks/kernel_fingerprint.py                       # this machine, every setting; writes its file
    python benchmarks/kernel_fingerprint.py --compare benchmarks/fingerprints/<other machine>.json

On fixed inputs (seeded), it hashes (sha256) the outputs and gradients of each op family a tagf training step uses
(matmul, addmm, bmm, conv1d forward and backward, LSTM, softmax, layer norm, batch norm, dropout masks, an Adam
step) and the bytes of a tiny TAGF after two epochs on a seeded random split, under each setting:

- `pinned`: the `reproducible` switch as it is (tagf.runtime: ATen, oneDNN and MKL pinned to AVX2, 1 thread,
  deterministic algorithms);
- `no-onednn`: pinned, and oneDNN off (torch.backends.mkldnn.enabled = False: convolutions and RNNs take ATen's
  own kernels, whose blocking does not depend on the cache sizes oneDNN tunes to);
- `strict`: no oneDNN, ATen's scalar kernels (ATEN_CPU_CAPABILITY=default) and MKL's COMPATIBLE branch
  (MKL_CBWR=COMPATIBLE: the same code path on every x86-64 CPU).

Each setting runs in a fresh process (the pins must be set before torch loads) and is timed on the same tiny
training (seconds per epoch, and its ratio to `pinned`: the setting's cost). Writes
benchmarks/fingerprints/<cpu>.json (the CPU model, its ISA flags, torch and its libraries' versions, each setting's
hashes and time); `--compare` lists, per setting, the op families whose bytes differ from another machine's file:
what a setting must pin to make two machines agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
SETTINGS = {  # name: (environment, oneDNN on)
    "pinned": (PINS, True),
    "no-onednn": (PINS, False),
    "strict": ({"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}, False),
}
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "fma")


def digest(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def op_hashes() -> dict[str, str]:
    """sha256 (16 hex) of each op family's output and gradients on seeded inputs."""
    import torch
    import torch.nn.functional as F

    def inputs(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float32).requires_grad_()

    g = torch.Generator().manual_seed(0)
    found = {}
    a, b, c = inputs(96, 200), inputs(200, 160), inputs(96, 160)
    out = a @ b
    out.sum().backward()
    found["matmul"] = digest(out, a.grad, b.grad)
    out = torch.addmm(c, a.detach(), b.detach())
    found["addmm"] = digest(out)
    x, y = inputs(12, 64, 48), inputs(12, 48, 64)
    out = torch.bmm(x, y)
    out.square().sum().backward()
    found["bmm"] = digest(out, x.grad, y.grad)
    signal, weight = inputs(4, 128, 300), inputs(128, 128, 5)
    out = F.conv1d(signal, weight, padding=8, dilation=4)
    out.square().sum().backward()
    found["conv1d"] = digest(out, signal.grad, weight.grad)
    torch.manual_seed(0)  # the layer's own initialisation draws from the global generator
    lstm = torch.nn.LSTM(64, 64, batch_first=True, bidirectional=True)
    seq = inputs(16, 3, 64)
    out, _ = lstm(seq)
    out.square().sum().backward()
    found["lstm"] = digest(out, seq.grad, *[p.grad for p in lstm.parameters()])
    scores = inputs(12, 300, 300)
    out = torch.softmax(scores / 0.1, dim=-1)
    (out * torch.linspace(0, 1, 300)).sum().backward()
    found["softmax"] = digest(out, scores.grad)
    z = inputs(12, 300, 128)
    out = F.layer_norm(z, (128,))
    out.square().sum().backward()
    found["layer_norm"] = digest(out, z.grad)
    bn = torch.nn.BatchNorm1d(128).train()
    w = inputs(12, 128, 300)
    out = bn(w)
    out.square().sum().backward()
    found["batch_norm"] = digest(out, w.grad, bn.running_mean, bn.running_var)
    torch.manual_seed(0)
    found["dropout_mask"] = digest(F.dropout(torch.ones(12, 300, 128), 0.6))
    param = torch.nn.Parameter(torch.randn(256, 256, generator=g))
    optimizer = torch.optim.Adam([param], lr=1e-3, weight_decay=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        (param @ param).square().mean().backward()
        optimizer.step()
    found["adam"] = digest(param)
    return found


def tiny_model() -> tuple[str, float]:
    """(sha256 of a tiny TAGF's state after two epochs on a seeded random split, seconds per epoch)."""
    import numpy as np

    from tagf.data.feature_store import SplitArrays
    from tagf.params import RunParams
    from tagf.training.trainer import train

    rng = np.random.default_rng(0)
    videos, frames = 6, 300
    n = videos * frames

    def split(offset: int) -> SplitArrays:
        return SplitArrays(
            videos=[f"v{offset + i}" for i in range(videos)],
            offsets=np.arange(videos + 1) * frames,
            visual=rng.normal(size=(n, 512)).astype(np.float16),
            audio=rng.normal(size=(n, 128)).astype(np.float16),
            labels=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
            label_valid=np.ones(n, bool),
            visual_valid=np.ones(n, bool),
            frames=np.tile(np.arange(1, frames + 1), videos).astype(np.int32),
            fps={f"v{offset + i}": 30.0 for i in range(videos)},
        )

    splits = {"train": split(0), "selection": split(videos)}
    setup = RunParams(profile="small").setup("tagf", train={"epochs": 2, "early_stop_patience": 5})
    start = time.perf_counter()
    result = train(setup.model, setup.train, splits=splits, callbacks=[])
    seconds = (time.perf_counter() - start) / 2
    state = result.model.state_dict()
    return digest(*(state[k].float() for k in sorted(state))), seconds


def measure(setting: str) -> dict:
    """In this process, already pinned: the hashes, the tiny model, what the process computed with."""
    import torch

    from tagf import runtime

    torch.backends.mkldnn.enabled = SETTINGS[setting][1]
    runtime.use_threads(1)
    ops = op_hashes()
    model, seconds = tiny_model()
    return {
        "ops": ops,
        "tiny_model_2_epochs": model,
        "seconds_per_epoch": round(seconds, 3),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": torch.backends.mkldnn.enabled,
        "environment": SETTINGS[setting][0],
    }


def machine() -> dict:
    import torch

    from tagf import runtime

    flags = ""
    if Path("/proc/cpuinfo").exists():
        flags = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), ""
        )
    config = torch.__config__.show()
    versions = {
        name: (re.search(pattern, config) or [None, "?"])[1]
        for name, pattern in (
            ("mkl", r"Intel\(R\) oneAPI Math Kernel Library Version ([\d.]+)"),
            ("onednn", r"(?:oneDNN|MKL-DNN) v([\d.]+)"),  # torch names it MKL-DNN
        )
    }
    return {
        "cpu_model": runtime.cpu_model(),
        "isa_flags": [f for f in FLAGS if re.search(rf"\b{f}\b", flags)],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **versions,
    }


def run_setting(setting: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
    }
    env.update(SETTINGS[setting][0], TAGF_REPRODUCIBLE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", setting], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(mine: dict, theirs: dict) -> list[str]:
    lines = [f"this machine: {mine['machine']['cpu_model']}; the other: {theirs['machine']['cpu_model']}"]
    for setting, found in mine["settings"].items():
        other = theirs["settings"].get(setting)
        if other is None:
            continue
        keys = [*found["ops"], "tiny_model_2_epochs"]
        values = {**found["ops"], "tiny_model_2_epochs": found["tiny_model_2_epochs"]}
        theirs_values = {**other["ops"], "tiny_model_2_epochs": other["tiny_model_2_epochs"]}
        differ = [k for k in keys if values[k] != theirs_values.get(k)]
        lines.append(f"{setting}: " + ("the same bytes" if not differ else f"differ in {', '.join(differ)}"))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=SETTINGS, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--settings", default=",".join(SETTINGS), help="which settings (default: all)")
    parser.add_argument("--output", help="the fingerprint file (default: benchmarks/fingerprints/<cpu>.json)")
    parser.add_argument("--compare", help="another machine's fingerprint file")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    found = {"machine": machine(), "settings": {}}
    for setting in args.settings.split(","):
        found["settings"][setting] = run_setting(setting)
    base = found["settings"].get("pinned", {}).get("seconds_per_epoch")
    print(
        f"{found['machine']['cpu_model']} ({', '.join(found['machine']['isa_flags'])}), torch {found['machine']['torch']}"
    )
    for setting, result in found["settings"].items():
        cost = f"{result['seconds_per_epoch'] / base:.2f}× pinned's time" if base else ""
        print(
            f"{setting:>10}: tiny TAGF {result['tiny_model_2_epochs']}, {result['seconds_per_epoch']:.2f} s/epoch {cost}"
        )
        print("            " + " ".join(f"{op}={h[:8]}" for op, h in result["ops"].items()))
    name = re.sub(r"[^A-Za-z0-9]+", "-", found["machine"]["cpu_model"]).strip("-").lower() or "unknown-cpu"
    output = Path(args.output) if args.output else HERE / "fingerprints" / f"{name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"-> {output}")
    if args.compare:
        print("\n".join(compare(found, json.loads(Path(args.compare).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
