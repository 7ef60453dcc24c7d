"""study/dvc.yaml from dvc.yaml: the reduced study runs the pipeline's own data, replicas and ablate stages, with
the same commands, dependencies and outputs, from study/ (code paths one level up) and with its params file,
study/params.yaml, written as its changes to params.yaml (`extends: ../params.yaml`). Each stage tracks its
sections in both files (in study/params.yaml only those it sets: DVC refuses a key a file lacks).

    python tools/study_stages.py            # rewrites study/dvc.yaml
    python tools/study_stages.py --check    # exit 1 if study/dvc.yaml is not what dvc.yaml makes (a test runs it)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("source", "corpus", "prepare", "features", "replicas", "ablate")
HEADER = """\
# The reduced misalignment study (study/params.yaml): `dvc repro study/dvc.yaml`. Written by
# `python tools/study_stages.py` from dvc.yaml's stages (do not edit: tests/test_study_params.py checks it). Unlike
# the pipeline's, its results are committed (cache: false: an hour of 2 cores; a clone reuses them all, and `tagf
# compare results/per_video.parquet` redoes their tables): docs/results.md is written from them.
"""


def _moved(path: str) -> str:
    """A path of the pipeline as seen from study/: its own data and results stay, code is one level up."""
    return (
        path.replace("results/ablation/", "results/")
        if path.startswith(("data/", "results/"))
        else f"../{path}"
    )


def _params(keys: list[str], own: dict) -> list[dict]:
    tracked = [{"../params.yaml": keys}]
    mine = [k for k in keys if k.split(".")[0] in own]
    return tracked + ([{"params.yaml": mine}] if mine else [])


def _outs(outs: list, committed: bool) -> list:
    found = []
    for out in outs:
        path, spec = next(iter(out.items())) if isinstance(out, dict) else (out, None)
        if committed and path.startswith("results/"):
            spec = {"cache": False, **(spec or {})}
        found.append({_moved(path): spec} if spec else _moved(path))
    return found


def study_stages() -> dict:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    own = yaml.safe_load((ROOT / "study" / "params.yaml").read_text())
    stages = {}
    for name in STAGES:
        stage = pipeline[name]
        found = {"cmd": stage["cmd"].replace("results/ablation", "results")}
        if stage.get("always_changed"):
            found["always_changed"] = True
        if "deps" in stage:
            found["deps"] = [_moved(d) for d in stage["deps"]]
        if "params" in stage:
            found["params"] = _params(stage["params"], own)
        found["outs"] = _outs(stage["outs"], committed=True)
        if "plots" in stage:
            found["plots"] = _outs(stage["plots"], committed=True)
        stages[name] = found
    return {"stages": stages}


def main() -> int:
    text = HEADER + yaml.safe_dump(study_stages(), sort_keys=False, width=110)
    target = ROOT / "study" / "dvc.yaml"
    if "--check" in sys.argv:
        if target.read_text() != text:
            print(f"{target}: not what dvc.yaml makes; run `python tools/study_stages.py`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
