"""Reproducibility: a fresh clone's `dvc repro` regenerates the committed results.

    .venv/bin/python benchmarks/fresh_clone_repro.py [--repo .] [--rev HEAD] [--verdicts]

Clones the repository at `rev` into a temporary directory, runs `dvc repro` there with this interpreter's packages
(the clone's own code first on the import path) and compares every result file the commit holds (`results/**`, DVC
`cache: false` outputs) with the regenerated ones: JSON value by value, any other file (figures, Parquet) by its
bytes. `--verdicts` compares only what the ablation concludes (each model's verdict on the primary endpoint): what
must hold on another machine type, where the bits may not (README, "Reproducible"). Prints the machine it ran on,
the wall time and each difference; exits 1 if anything compared differs. About as long as `make run`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def committed_results(clone: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "results"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.split()
    if not listed:
        sys.exit(f"{clone}: the commit holds no results/ files to compare (commit dvc.lock and the metrics)")
    return listed


def differences(expected, actual, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = sorted(set(expected) | set(actual))
        return [d for k in keys for d in differences(expected.get(k), actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: committed {expected!r}, regenerated {actual!r}"]


def verdicts(summary: dict) -> dict[str, str]:
    return {
        row["label"]: (row["primary"].get("vs_reference") or {}).get("verdict", "reference")
        for row in summary["rows"]
    }


def compared(clone: Path, names: list[str], only_verdicts: bool) -> dict[str, object]:
    """What is compared of each file: its verdicts, its JSON values, or its sha256."""
    if only_verdicts:
        return {
            "results/ablation/ablation.json": verdicts(
                json.loads((clone / "results/ablation/ablation.json").read_text())
            )
        }
    return {  # provenance.json says which machine made the results: it differs by design
        name: json.loads((clone / name).read_text())
        if name.endswith(".json")
        else hashlib.sha256((clone / name).read_bytes()).hexdigest()
        for name in names
        if not name.endswith("provenance.json")
    }


def machine() -> str:
    from tagf import runtime

    described = runtime.describe()
    return f"{described['cpu_model']} (torch kernels {described['cpu_capability']}, {described['threads']} threads)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository to clone")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--verdicts", action="store_true", help="compare the ablation's verdicts only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagf-clone-") as tmp:
        clone = Path(tmp) / "tagf"
        subprocess.run(["git", "clone", "-q", str(Path(args.repo).resolve()), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=clone, check=True)
        files = committed_results(clone)
        expected = compared(clone, files, args.verdicts)
        env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "PYTHONPATH": str(clone),  # the clone's code, not the installed checkout's
            "DVC_NO_ANALYTICS": "1",
            "RAY_AUTH_MODE": "disabled",
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        start = time.perf_counter()
        subprocess.run([str(BIN / "dvc"), "repro"], cwd=clone, env=env, check=True)
        seconds = time.perf_counter() - start
        actual = compared(clone, files, args.verdicts)
        found = [d for name in expected for d in differences(expected[name], actual[name], name)]
    print(f"on {machine()}")
    print(
        f"fresh clone of {args.rev}: dvc repro took {seconds:.0f} s; {len(expected)} committed result files compared"
    )
    for line in found:
        print("DIFFERS", line)
    print("identical" if not found else f"{len(found)} value(s) differ")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
