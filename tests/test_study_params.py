"""The reduced study is the pipeline with changes: study/params.yaml names only what differs from params.yaml
(`extends`), and study/dvc.yaml is dvc.yaml's stages as tools/study_stages.py derives them."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.params import load_params
from tagf.errors import ParamsError
from tagf.params_file import read_params_file

ROOT = Path(__file__).resolve().parents[1]


def test_study_dvc_yaml_is_derived_from_the_pipelines():
    proc = subprocess.run(
        [sys.executable, ROOT / "tools" / "study_stages.py", "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["study/params.yaml", "params.study.yaml"])
def test_an_override_file_names_only_what_differs(name):
    own = yaml.safe_load((ROOT / name).read_text())
    base = read_params_file(ROOT / "params.yaml")
    assert (ROOT / Path(name).parent / own.pop("extends")).resolve() == ROOT / "params.yaml"
    same = [
        f"{section}.{key}"
        for section, values in own.items()
        for key, value in (values.items() if isinstance(values, dict) else [(None, values)])
        if (base.get(section) if key is None else (base.get(section) or {}).get(key)) == value
    ]
    assert same == [], f"{name} repeats params.yaml's values of {same}"
    merged = load_params(ROOT / name)  # the whole schema holds for the merged file
    assert (
        merged.data.preset == own["data"]["preset"]
        and merged.splits == load_params(ROOT / "params.yaml").splits
    )


def test_extends_replaces_each_named_key_whole_and_refuses_a_cycle(tmp_path):
    (tmp_path / "base.yaml").write_text("sweep:\n  name: a\n  space: {x: 1, y: 2}\nprofile: small\n")
    (tmp_path / "over.yaml").write_text("extends: base.yaml\nsweep:\n  space: {z: 3}\n")
    assert read_params_file(tmp_path / "over.yaml") == {
        "sweep": {"name": "a", "space": {"z": 3}},
        "profile": "small",
    }
    (tmp_path / "base.yaml").write_text("extends: over.yaml\n")
    with pytest.raises(ParamsError, match="a cycle"):
        read_params_file(tmp_path / "over.yaml")


def test_the_ablation_stages_outputs_are_the_ablations():
    """One list of what an ablation writes (orchestration.ablation.OUTPUTS): every one is a DVC output of the
    pipeline's ablate stage and of the study's (outs or plots), and nothing else is."""
    from orchestration.ablation import OUTPUTS

    for path, folder in (("dvc.yaml", "results/ablation/"), ("study/dvc.yaml", "results/")):
        stage = yaml.safe_load((ROOT / path).read_text())["stages"]["ablate"]
        named = [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"] + stage["plots"]]
        assert sorted(n.removeprefix(folder) for n in named) == sorted(OUTPUTS), path


def test_the_studys_design_is_the_one_its_pilot_plans():
    """docs/protocol.md's planned detectable difference is what `tagf ablate --plan --pilot` says of the committed
    pilot at study/params.yaml's design."""
    from tagf.study.planning import plan_from_pilot

    params = load_params(ROOT / "study" / "params.yaml")
    said = plan_from_pilot(
        str(ROOT / "study" / "pilot" / "per_video.parquet"), params.ablate, params.corpus_seeds(), 0.05, 24
    )
    planned = re.search(r"≈ ([\d.]+) CCC", said)[1]
    assert (
        float(planned) <= 0.05
        and f"detect about {planned} CCC" in (ROOT / "docs" / "protocol.md").read_text()
    )
    found = json.loads((ROOT / "study" / "results" / "power.json").read_text())
    simulated = found["detectable_power_simulated"]
    assert (
        f"says it detects {found['detectable_difference']:.3f} CCC at 80 % power;\n{simulated['repetitions']:,} "
        f"studies simulated at its design with those components found that difference "
        f"{simulated['rejection'] * 100:.1f} % of the time"
    ) in (ROOT / "docs" / "protocol.md").read_text()
