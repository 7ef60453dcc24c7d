"""Every benchmark runs, at its smallest setting (a smoke test: it exits 0 and prints its result line; the numbers
are the benchmark's to report, never asserted). fresh_clone_repro.py is the whole pipeline in a clone: its smallest
setting is `dvc repro` itself, which tests/test_pipeline.py runs on the tiny corpus."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALLEST = {
    "bf16_accuracy.py": ["{store}", "--profile", "small", "--seeds", "0", "--set", "train.epochs=1"],
    "epoch_throughput.py": ["--videos", "1"],
    "feature_extraction.py": ["--videos", "1", "--backbones", "builtin"],
    "feature_store_read.py": ["--frames", "3000", "--video-frames", "1500"],
    "kernel_fingerprint.py": ["--settings", "pinned", "--output", "{tmp}/fingerprint.json"],
    "gpu_check.py": ["--cpu"],
    "shared_data.py": ["--frames", "6000", "--trials", "2", "--no-epoch"],
    "model_throughput.py": ["--rounds", "1", "--shapes", "1x32", "--threads", "1", "--matmul-n", "256"],
    "tune_overhead.py": ["--trials", "2", "--epochs", "1", "--frames", "300", "--serial-only"],
}

pytestmark = pytest.mark.slow


def test_every_benchmark_has_a_smoke_test():
    assert {p.name for p in (ROOT / "benchmarks").glob("*.py")} == {*SMALLEST, "fresh_clone_repro.py"}


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_the_benchmark_runs_at_its_smallest_setting(name, tiny_corpus, tmp_path):
    args = [a.format(store=tiny_corpus["store"], tmp=tmp_path) for a in SMALLEST[name]]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, ROOT / "benchmarks" / name, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip(), "no result printed"


def test_the_fingerprint_of_one_machine_is_the_same_twice(tmp_path):
    """Two runs on one machine hash every op family alike: a difference on another machine is the machine's."""
    import json

    found = []
    for run in ("first", "second"):
        out = tmp_path / f"{run}.json"
        subprocess.run(
            [
                sys.executable,
                ROOT / "benchmarks" / "kernel_fingerprint.py",
                "--settings",
                "pinned",
                "--output",
                out,
            ],
            check=True,
            capture_output=True,
        )
        found.append(json.loads(out.read_text())["settings"]["pinned"])
    first, second = ({k: v for k, v in f.items() if "time" not in k and "seconds" not in k} for f in found)
    assert first == second
