"""Reproducibility: what a fresh clone's `dvc repro` gives against the published results of the commit.

    .venv/bin/python benchmarks/fresh_clone_repro.py [--repo .] [--rev HEAD]

Clones the repository at `rev` into a temporary directory and runs `dvc repro` there with this interpreter's
packages (the clone's own code first on the import path): a clone has none of the pipeline's outputs (they live in
DVC's cache), so every stage runs. Then compares what it made with published/make-run/ (tools/publish.py): each
file by its bytes (provenance.json, which names the machine, apart), and the verdicts and differences with
`tagf agree` (what must hold on another machine, where the bits may not: README, "Reproducible"). Prints the machine
it ran on, the wall time, each file that differs and `tagf agree`'s lines; exits 1 if they disagree. About as long
as `make run`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PUBLISHED = "published/make-run"


def machine() -> str:
    from tagf import runtime

    described = runtime.describe()
    return f"{described['cpu_model']} (torch kernels {described['cpu_capability']}, {described['threads']} threads)"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository to clone")
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagf-clone-") as tmp:
        clone = Path(tmp) / "tagf"
        subprocess.run(["git", "clone", "-q", str(Path(args.repo).resolve()), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=clone, check=True)
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
        published = sorted((clone / PUBLISHED).iterdir())
        made = {"metrics.json": clone / "results" / "report" / "metrics.json"}
        differ = [
            p.name
            for p in published
            if p.name != "provenance.json"
            and digest(p) != digest(made.get(p.name, clone / "results" / "ablation" / p.name))
        ]
        agree = subprocess.run(
            [str(BIN / "tagf"), "agree", "results/ablation/ablation.json", f"{PUBLISHED}/ablation.json"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
    print(f"on {machine()}")
    print(
        f"fresh clone of {args.rev}: dvc repro took {seconds:.0f} s; {len(published)} published files compared"
    )
    print(f"bit for bit: {len(published) - len(differ)} identical, differ: {', '.join(differ) or 'none'}")
    print(agree.stdout + agree.stderr, end="")
    return 0 if agree.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
