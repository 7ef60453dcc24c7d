"""What a run records about where it came from: the code's git commit and the environment it ran in (the version
of every installed distribution; `constraints.txt` is the lock the README's install uses)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from tagf import runtime

# What the pipeline itself rewrites as it runs: a change there does not make the code that ran another.
PIPELINE_WRITES = ("dvc.lock", "study/dvc.lock", "data/source.json", "study/data/source.json")


def git_commit(path: str | Path = ".") -> str | None:
    """HEAD of the repository containing `path` (with '-dirty' if it has uncommitted changes besides the files the
    pipeline writes as it runs, PIPELINE_WRITES), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
        )
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                *(f":!{p}" for p in PIPELINE_WRITES),
            ],
            cwd=top,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    """{distribution: version} of everything installed, by name: the same set `pip freeze` lists."""
    found = {dist.metadata["Name"].lower(): dist.version for dist in importlib.metadata.distributions()}
    return dict(sorted(found.items()))


def environment() -> dict[str, str]:
    """The short form a model file and a run's tags carry; the full list is `package_versions()`. With it, what the
    run computed with: the kernels' instruction set, threads, the CPU and the reproducible switch (tagf.runtime)."""
    versions = package_versions()
    frozen = "\n".join(f"{name}=={version}" for name, version in versions.items())
    return {
        "python": platform.python_version(),
        "torch": versions.get("torch", "absent"),
        "packages_sha256": hashlib.sha256(frozen.encode()).hexdigest(),
        **runtime.describe(),
    }
