"""What a run records about where it came from: the code's git commit."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(path: str | Path = ".") -> str | None:
    """HEAD of the repository containing `path` (with '-dirty' if it has uncommitted changes), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
