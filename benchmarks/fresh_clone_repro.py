"""Reproducibility: a fresh clone's `dvc repro` regenerates the committed metrics exactly.

    .venv/bin/python benchmarks/fresh_clone_repro.py [--repo .] [--rev HEAD]

Clones the repository at `rev` into a temporary directory, runs `dvc repro` there with this interpreter's packages
(the clone's own code first on the import path) and compares every metrics and plot-data file the commit holds
(`results/**`, DVC `cache: false` outputs) with the regenerated ones, value by value. Prints the wall time and each
difference; exits 1 if any file differs. About as long as `make run` (minutes on 2 cores).
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
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: committed {expected!r}, regenerated {actual!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository to clone")
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagf-clone-") as tmp:
        clone = Path(tmp) / "tagf"
        subprocess.run(["git", "clone", "-q", str(Path(args.repo).resolve()), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=clone, check=True)
        files = committed_results(clone)
        expected = {name: json.loads((clone / name).read_text()) for name in files}
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
        found = [d for name in files for d in differences(expected[name], json.loads((clone / name).read_text()), name)]
    print(f"fresh clone of {args.rev}: dvc repro took {seconds:.0f} s; {len(files)} committed result files compared")
    for line in found:
        print("DIFFERS", line)
    print("identical" if not found else f"{len(found)} value(s) differ")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
