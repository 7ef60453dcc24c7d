"""The `tagf` command line: one entry point with every command, one line and its own exit status per user error,
a traceback for anything else, and models:/ URIs looked up in the tracking store the params name."""

import hashlib
import re
from pathlib import Path

import mlflow
import pytest
from conftest import cli_error, run_cli

from tagf import cli
from tagf.errors import (
    DataError,
    ModelFileError,
    ParamsError,
    StorageError,
    TagfError,
    TrackingError,
    UsageError,
)

DOCS = [Path(__file__).parents[1] / "README.md", *sorted((Path(__file__).parents[1] / "docs").glob("*.md"))]
EXPECTED = {
    *(
        "synth",
        "prepare",
        "features",
        "train",
        "evaluate",
        "robustness",
        "compare",
        "agree",
        "plot-gates",
        "predict",
    ),
    *(
        "import-checkpoint",
        "corpus",
        "source",
        "replicas",
        "sweep",
        "ablate",
        "report",
        "register",
        "promote",
        "setup-tracking",
    ),
}


def help_commands() -> list[str]:
    """The subcommands `python -m tagf --help` lists (its `{a,b,...}` usage line)."""
    usage = run_cli("--help").stdout
    return re.search(r"\{([a-z,-]+)\}", usage).group(1).split(",")


def test_python_m_tagf_lists_every_command_and_the_exit_statuses():
    proc = run_cli("--help")
    assert set(help_commands()) == EXPECTED
    for cls in TagfError.__subclasses__():
        assert f"  {cls.exit_code}  {cls.__name__}: " in proc.stdout
    codes = [cls.exit_code for cls in TagfError.__subclasses__()]
    assert len(set(codes)) == len(codes) and 1 not in codes  # 1: a traceback


def test_the_documents_show_every_command():
    text = "\n".join(path.read_text() for path in DOCS)
    missing = [c for c in help_commands() if not re.search(rf"\btagf {re.escape(c)}\b", text)]
    assert not missing, f"README.md and docs/ never show `tagf <command>` for: {', '.join(missing)}"


def test_params_error_exit_status(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  preset: huge\n")
    proc = run_cli("source", str(tmp_path / "s.json"), "--params", str(tmp_path / "params.yaml"), check=False)
    assert proc.returncode == ParamsError.exit_code
    assert cli_error(proc).startswith(f"{tmp_path / 'params.yaml'}: data.preset: Input should be")
    assert "Traceback" not in proc.stderr


def test_data_error_exit_status_reports_every_corpus_problem(tmp_path):
    (tmp_path / "corpus").mkdir()
    proc = run_cli("prepare", str(tmp_path / "corpus"), str(tmp_path / "i.parquet"), check=False)
    assert proc.returncode == DataError.exit_code and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tagf prepare: error: ")]
    assert errors and all(str(tmp_path / "corpus") in line for line in errors)


@pytest.mark.parametrize("command", ["sweep", "ablate"])
def test_a_relative_storage_is_refused_on_a_cluster_before_anything_starts(command, tmp_path):
    """A `ray job submit` driver runs in a temporary copy that goes away: its relative paths are not shared."""
    params = tmp_path / "params.yaml"
    params.write_text("{}\n")
    proc = run_cli(
        command,
        "--params",
        str(params),
        "--store",
        str(tmp_path / "none"),
        "--output",
        str(tmp_path / "o"),
        "--address",
        "127.0.0.1:1",
        check=False,
    )
    assert proc.returncode == ParamsError.exit_code
    assert cli_error(proc) == (
        "sweep.storage: ray_results is relative, but the trials run on the Ray cluster "
        "127.0.0.1:1: give --storage (or sweep.storage) a path every node mounts at the same place, or a URL (s3://...)"
    )


def test_storage_and_model_file_exit_statuses(tmp_path):
    args = ["--store", str(tmp_path / "s"), "--video", "v", "--output", str(tmp_path / "g.png")]
    proc = run_cli("plot-gates", "--model", str(tmp_path / "missing.pt"), *args, check=False)
    assert proc.returncode == StorageError.exit_code
    assert cli_error(proc) == f"{tmp_path / 'missing.pt'}: no such tagf model file"
    (tmp_path / "junk.pt").write_text("not a model")
    digest = hashlib.sha256(b"not a model").hexdigest()
    (tmp_path / "junk.pt.sha256").write_text(f"{digest}  junk.pt\n")  # intact, and still not a model
    proc = run_cli("plot-gates", "--model", str(tmp_path / "junk.pt"), *args, check=False)
    assert proc.returncode == ModelFileError.exit_code and "not a tagf model file" in cli_error(proc)


def test_usage_error_exit_status_and_debug_traceback(tmp_path):
    args = ["train", "--store", str(tmp_path / "s"), "--output", str(tmp_path / "run"), "--set", "lr=1"]
    proc = run_cli(*args, check=False)
    assert proc.returncode == UsageError.exit_code and "Traceback" not in proc.stderr
    assert cli_error(proc) == "--set lr=1: expected model.<field>=<value> or train.<field>=<value>"
    proc = run_cli("--debug", *args, check=False)
    assert proc.returncode == UsageError.exit_code
    assert "Traceback (most recent call last)" in proc.stderr and "tagf.errors.UsageError" in proc.stderr


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory"), KeyError("video")])
def test_an_unexpected_error_prints_its_traceback(monkeypatch, capsys, tmp_path, error):
    def fails(args):
        raise error

    from tagf.cli import corpus

    monkeypatch.setattr(corpus, "_synth", fails)
    assert cli.main(["synth", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and type(error).__name__ in err
    assert "error:" not in err


def test_models_uri_resolves_in_the_params_tracking_store(tiny_corpus, tmp_path, monkeypatch):
    from conftest import SMALL_TAGF
    from mlflow.tracking import MlflowClient

    from orchestration.model_registry import promote, register
    from orchestration.pyfunc_model import log_tagf_model
    from tagf.models import load_model

    store = str(tiny_corpus["store"])
    run_cli(
        "train", "--store", store, "--output", str(tmp_path / "run"), *SMALL_TAGF, "--set", "train.epochs=1"
    )
    local = str(tmp_path / "run" / "model.pt")
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"  # not params.yaml's default sqlite:///mlflow.db
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    with mlflow.start_run() as run:
        pass
    model, extra = load_model(local)
    register(client, "cli-test", log_tagf_model(model, extra, run.info.run_id), run.info.run_id, 0.5, {})
    promote(client, "cli-test")
    monkeypatch.delenv(
        "MLFLOW_TRACKING_URI"
    )  # set_tracking_uri exports it; the CLI must find the store itself
    (tmp_path / "params.yaml").write_text(f"mlflow:\n  tracking_uri: {uri}\n")

    expected = run_cli("evaluate", "--model", local, "--store", store).stdout
    registered = ["evaluate", "--model", "models:/cli-test@champion", "--store", store]
    resolved = run_cli(*registered, "--params", str(tmp_path / "params.yaml"))
    assert resolved.stdout == expected and re.search(r"ccc_mean=-?\d", expected)

    # MLFLOW_TRACKING_URI beats the params file: an empty store has no such model.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    proc = run_cli(*registered, "--params", str(tmp_path / "params.yaml"), check=False)
    assert proc.returncode == TrackingError.exit_code
    assert cli_error(proc).startswith("models:/cli-test@champion: ") and "empty.db" in cli_error(proc)


def test_prepare_follows_the_corpus_pointer_of_tagf_corpus(micro_corpus, tmp_path):
    splits = "splits: {selection: dev, report: validation, dev_fraction: 0.5}\n"
    (tmp_path / "params.yaml").write_text(f"data:\n  source: affwild2\n  root: {micro_corpus}\n{splits}")
    source = str(tmp_path / "source.json")
    run_cli("source", source, "--params", str(tmp_path / "params.yaml"))
    run_cli("corpus", source, str(tmp_path / "corpus"))
    assert [p.name for p in (tmp_path / "corpus").iterdir()] == ["SOURCE.json"]
    proc = run_cli("prepare", str(tmp_path / "corpus"), str(tmp_path / "index.parquet"))
    assert "of 4 videos" in proc.stdout
    (tmp_path / "params.yaml").write_text(
        f"data:\n  source: affwild2\n  root: {tmp_path / 'nowhere'}\n{splits}"
    )
    proc = run_cli(
        "source", str(tmp_path / "s2.json"), "--params", str(tmp_path / "params.yaml"), check=False
    )
    assert proc.returncode == StorageError.exit_code and "data.root: " in cli_error(proc)
    (tmp_path / "garbage.json").write_text("[1, 2]")
    proc = run_cli("corpus", str(tmp_path / "garbage.json"), str(tmp_path / "c3"), check=False)
    assert proc.returncode == DataError.exit_code and "garbage.json: not a corpus source" in cli_error(proc)


def test_features_take_the_params_features_section(tiny_corpus, tmp_path):
    (tmp_path / "params.yaml").write_text("features:\n  batch_size: 0\n")
    args = [str(tiny_corpus["index"]), str(tmp_path / "store"), "--params", str(tmp_path / "params.yaml")]
    proc = run_cli("features", *args, check=False)
    assert proc.returncode == ParamsError.exit_code
    assert cli_error(proc).startswith(f"{tmp_path / 'params.yaml'}: features.batch_size: Input should be")


def test_the_study_says_up_front_how_many_trials_it_runs(tmp_path):
    study = str(Path(__file__).parents[1] / "params.study.yaml")
    from orchestration.ablation_design import plan
    from orchestration.params import load_params

    proc = run_cli(
        "ablate", "--params", study, "--store", str(tmp_path / "s"), "--output", str(tmp_path), "--plan"
    )
    assert proc.stdout.strip() == plan(load_params(study)) and " trials of " in proc.stdout
    assert list(tmp_path.iterdir()) == []  # it ran nothing


@pytest.mark.parametrize(
    "setting, message",
    [
        (
            "model.window=10000000",
            "model.window: Value error, 10000000 frames is more than the limit of 9000",
        ),
        ("model.steps=100000", "model.steps: Value error, 100000 steps is more than the limit of 16"),
        (
            "model.visual_channels=[100000000]",
            "model.visual_channels.0: Value error, 100000000 channels is more",
        ),
        ("train.batch_size=true", "train.batch_size: Value error, expected a whole number, got true"),
        ("train.epochs=1000000", "train.epochs: Value error, 1000000 epochs is more than the limit of 10000"),
    ],
)
def test_sizes_beyond_their_limits_are_one_line_naming_the_setting(tmp_path, setting, message):
    args = ["train", "--store", str(tmp_path / "s"), "--output", str(tmp_path / "run"), "--set", setting]
    proc = run_cli(*args, check=False)
    assert proc.returncode == ParamsError.exit_code and message in cli_error(proc)
    assert "TAGF_NO_LIMITS=1 lifts it" in cli_error(proc) or "whole number" in cli_error(proc)
    assert not (tmp_path / "run").exists()


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ["sweep:", "  space:", "    model.gate:", "      choice: &a0 [step_bilstm, fc]"]
    lines += [
        f"    x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)
    ]  # 9^11 items if expanded
    (tmp_path / "params.yaml").write_text("\n".join(lines) + "\n")
    args = [
        "ablate",
        "--params",
        str(tmp_path / "params.yaml"),
        "--store",
        "s",
        "--output",
        str(tmp_path),
        "--plan",
    ]
    proc = run_cli(*args, check=False)
    assert proc.returncode == ParamsError.exit_code
    assert cli_error(proc) == f"{tmp_path / 'params.yaml'}: line 5: YAML aliases (*a0) are not allowed"
