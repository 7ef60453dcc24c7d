"""One route from params.yaml into a run (tagf.params): the command line, the platform's Params and a Ray trial's
config build the same Setup; one precedence; the real-data document's Aff-Wild2 settings train as written; and
`reproducible` is read strictly before torch loads."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL_TAGF, cli_error, run_cli

from orchestration.params import load_params
from orchestration.trial import AA_COPY, TrialContext, trial_setup
from tagf.cli import build_parser
from tagf.cli.train import setup_of
from tagf.errors import ParamsError
from tagf.models.variants import AA_SEED_OFFSET, Variant

ROOT = Path(__file__).resolve().parents[1]
PARAMS = """\
profile: paper
splits: {selection: dev, report: validation, dev_fraction: 0.15}
model: {variant: tagf, head_hidden: 64, attention_dropout: 0.5}
train: {epochs: 2, seed: 3}
"""


def context(params) -> TrialContext:
    return TrialContext(params=params, tracking_uri="", experiment_id="", parent_run_id="", tags={})


def test_the_cli_the_platform_and_a_trial_build_the_same_run(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    args = build_parser(["train"]).parse_args(
        [
            "train",
            "--store",
            "s",
            "--output",
            "o",
            "--params",
            str(path),
            "--variant",
            "jca",
            "--set",
            "train.lr=0.002",
        ]
    )
    from_cli = setup_of(args)
    from_params = load_params(path).setup("jca", train={"lr": 0.002})
    from_trial, name = trial_setup({"model.variant": "jca", "train.lr": 0.002}, context(load_params(path)))
    assert from_cli == from_params == from_trial and name == "jca"
    # profile < the variant's preset < params.yaml < flags
    assert from_cli.model.steps == 1 and from_cli.model.gate == "last"  # jca's preset over the default
    assert from_cli.model.head_hidden == 64 and from_cli.model.window == 300  # params over the paper profile
    assert from_cli.train.lr == 0.002 and from_cli.train.epochs == 2  # the flag over params over the profile
    assert from_cli.splits.selection == "dev" and from_cli.splits.dev_fraction == 0.15
    assert (
        from_cli.label
        == "paper, modified: model.head_hidden=64, model.attention_dropout=0.5, train.lr=0.002, train.epochs=2"
    )


def test_the_aa_copy_is_a_field_of_the_variant_not_a_name(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    setup, name = trial_setup({"model.variant": "tagf", AA_COPY: True}, context(load_params(path)))
    assert setup.variant == Variant("tagf", aa_copy=True) and name == "tagf_aa"
    assert setup.train.seed == 3 + AA_SEED_OFFSET and setup.model == load_params(path).setup().model
    with pytest.raises(ParamsError, match="unknown model variant 'tagf_aa'"):
        Variant("tagf_aa")


def test_no_other_module_combines_settings():
    """The merge sites of before (the train command, Params.setup, the trial) are gone: only tagf.params calls
    the profiles' resolver."""
    callers = [
        str(path.relative_to(ROOT))
        for package in ("tagf", "orchestration", "benchmarks")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"from tagf\.profiles import [^\n]*\bresolve\b|profiles\.resolve\(", path.read_text())
        and path.name != "params.py"
    ]
    assert callers == []


def test_params_that_would_change_a_variant_in_the_ablation_are_refused(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("model: {variant: tagf, steps: 3}\nablate: {variants: [tagf, jca]}\n")
    with pytest.raises(
        ParamsError, match="model.steps: set in the model section, but it is what the ablation"
    ):
        load_params(path)


@pytest.mark.parametrize("value", ['"false"', "yes-ish", "1"])
def test_reproducible_must_be_a_boolean_before_anything_else(tmp_path, value):
    path = tmp_path / "params.yaml"
    path.write_text(f"reproducible: {value}\n")
    proc = run_cli("train", "--store", "s", "--output", "o", "--params", str(path), check=False)
    assert proc.returncode == 3 and cli_error(proc).startswith(
        f"{path}: reproducible: Input should be a valid boolean"
    )


def test_the_settings_import_without_torch():
    code = "import sys, tagf.params, tagf.params_file; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_data_aff_wild2_settings_train_on_dev_as_written(tiny_corpus, tmp_path):
    """docs/real-data.md's params (every line of its block) and its `tagf train --params` command, on the tiny
    corpus's store (paths and one epoch the only changes)."""
    text = (ROOT / "docs" / "real-data.md").read_text()
    block = re.search(r"```bash\n# params.yaml\n(.*?)dvc repro\n```", text, re.S)[1]
    lines = [line.removeprefix("#   ") for line in block.splitlines()]
    (tmp_path / "params.yaml").write_text("\n".join(line.replace(":  ", ": ", 1) for line in lines) + "\n")
    (command,) = [line for line in text.splitlines() if line.startswith("tagf train --params params.yaml")]
    words = command.split("#")[0].split()[1:]
    words[words.index("--store") + 1] = str(tiny_corpus["store"])
    words[words.index("--output") + 1] = str(tmp_path / "run")
    words[words.index("--params") + 1] = str(tmp_path / "params.yaml")
    proc = run_cli(*words, *SMALL_TAGF, "--set", "model.separate_targets=false", "--set", "train.epochs=1")
    assert "dev CCC mean" in proc.stdout, proc.stdout
