"""Publish a `make run`: copy its results into published/make-run/ (committed: what docs/results.md cites and what
`tagf agree` holds a rerun against) and rewrite docs/results.md. The pipeline's own outputs stay in DVC's cache, so
that a clone computes them all again rather than mixing committed results with its own.

    python tools/publish.py           # after `make run`, by whoever publishes new results
    python tools/publish.py --check   # exit 1 if published/make-run/ is not what results/ holds (no copy made)
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "published" / "make-run"
SOURCES = {
    "results/ablation": None,
    "results/report": ("metrics.json",),
}  # folder: its files (None: every one)


def files() -> list[Path]:
    found = []
    for folder, names in SOURCES.items():
        found += sorted((ROOT / folder).iterdir()) if names is None else [ROOT / folder / n for n in names]
    return [path for path in found if path.is_file()]


def main() -> int:
    sources = files()
    if not sources:
        print("results/ablation: nothing to publish; run `make run` first", file=sys.stderr)
        return 1
    if "--check" in sys.argv:
        stale = [p.name for p in sources if not filecmp.cmp(p, TARGET / p.name, shallow=False)]
        if stale:
            print(f"published/make-run differs from results/: {', '.join(stale)}", file=sys.stderr)
        return 1 if stale else 0
    if TARGET.exists():
        shutil.rmtree(TARGET)
    TARGET.mkdir(parents=True)
    for path in sources:
        shutil.copy2(path, TARGET / path.name)
    subprocess.run([sys.executable, ROOT / "tools" / "results_doc.py"], check=True)
    print(f"published {len(sources)} files to {TARGET.relative_to(ROOT)} and rewrote docs/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
