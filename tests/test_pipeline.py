"""The whole DVC pipeline, for real: `dvc repro` in a fresh git repo on the tiny corpus."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import has_key
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECORDER = Path(__file__).parent / "import_recorder"  # its sitecustomize logs each tagf command's imports

# The paper's set-up (profile `paper`: faithful TAGF, window 300, one model per target) on the tiny corpus, with
# narrow encoders, one epoch, one sweep trial and two ablation variants so that it runs in CI.
TINY = {
    "profile": "paper",
    "data": {"preset": "tiny"},
    "model": {"visual_channels": [64, 64], "audio_channels": [32, 32], "head_hidden": 32},
    "train": {"epochs": 1},
    "sweep": {
        "num_samples": 1,
        "max_concurrent": 1,
        "grace_period": 1,
        "space": {"model.gate": {"choice": ["step_bilstm"]}},
    },
    # n = 1 seed × 2 corpora; the tiny corpus's lags (±0.5 s) and shift (±0.5 s) reach 1 s
    "ablate": {
        "variants": ["tagf", "audio_only"],
        "seeds": [0],
        "corpus_seeds": [0, 1],
        "primary": "lag>=0.5",
    },
    "evaluate": {"shifts_s": [0.5], "snr_db": [10], "dropout": [0.5]},
}


def merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base.get(key, {}), value) if isinstance(value, dict) and key != "space" else value
    return out


def project(repo: Path, override: dict) -> Path:
    """This project's code, pipeline and params (with `override` over them) in `repo`."""
    for name in ("tagf", "orchestration"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo)
    shutil.copy(ROOT / ".gitignore", repo)
    shutil.copy(ROOT / ".dvcignore", repo)  # __pycache__ is not a code change
    params = merged(yaml.safe_load((ROOT / "params.yaml").read_text()), override)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return project(tmp_path_factory.mktemp("pipeline"), TINY)


def sh(repo: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONPATH": f"{RECORDER}:{repo}",  # the repo's copy of the code, not the installed checkout
        "TAGF_IMPORT_LOG": str(repo.parent / "imports"),
        "RAY_AUTH_MODE": "disabled",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONWARNINGS": "ignore",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def uncovered_imports(repo: Path, log: Path) -> dict[str, list[str]]:
    """Per stage, the modules of this repo its command imported that none of its dependencies covers."""
    found = {}
    for name, stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].items():
        if stage.get("always_changed"):
            continue
        record = json.loads((log / f"{stage['cmd'].split()[1]}.json").read_text())
        files = [
            Path(f).relative_to(repo).as_posix() for f in record["files"] if Path(f).is_relative_to(repo)
        ]
        assert "tagf/cli/__init__.py" in files, f"{name}: the command did not run the repo's code"
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        missing = [f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
        if missing:
            found[name] = missing
    return found


def test_params_yaml_names_every_param_a_stage_tracks():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        for param in stage.get("params", []):
            assert has_key(params, param), f"stage {name}: {param}"  # dvc repro stops at a missing one


def initialise(repo: Path) -> Path:
    """A git repo and DVC project of the copied code, committed."""
    (repo.parent / "imports").mkdir(exist_ok=True)
    sh(repo, "git", "init", "-q")
    sh(repo, str(BIN / "dvc"), "init", "-q")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "pipeline")
    return repo


def paths_in_outputs(repo: Path) -> list[str]:
    """The output files (data/, results/) that name the checkout's own location."""
    found = []
    for path in [*(repo / "data").rglob("*"), *(repo / "results").rglob("*")]:
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = str(table.schema.metadata) + " ".join(
                str(v)
                for name in table.column_names
                if table.schema.field(name).type == "string"
                for v in table.column(name).unique().to_pylist()
            )
        else:
            text = path.read_bytes().decode("latin-1")
        if str(repo) in text or str(repo.resolve()) in text:
            found.append(str(path.relative_to(repo)))
    return found


DATA_STAGES = ("source", "corpus", "prepare", "features")


def test_dvc_repro_runs_every_stage_then_nothing(repo):
    initialise(repo)
    first = sh(repo, str(BIN / "dvc"), "repro")
    for stage in (
        "source",
        "corpus",
        "prepare",
        "features",
        "replicas",
        "sweep",
        "ablate",
        "report",
        "register",
    ):
        assert f"Running stage '{stage}'" in first.stdout
    # Every module a stage imports is one of its dependencies, so editing it makes the stage stale.
    assert uncovered_imports(repo, repo.parent / "imports") == {}
    # No output says where the checkout lives (so a teammate's `dvc pull` works in theirs).
    assert paths_in_outputs(repo) == []

    metrics = json.loads((repo / "results/report/metrics.json").read_text())
    assert set(metrics) == {"best_tagf", "best_tagf_latent_ccc_mean", "variant_ccc_mean"}
    assert set(metrics["best_tagf"]) == {"ccc_valence", "ccc_arousal", "ccc_mean"}
    assert set(metrics["variant_ccc_mean"]) == {"tagf", "audio_only"}
    for path in (
        "results/sweep/best_config.json",
        "results/sweep/trials.csv",
        "results/sweep/best/model.pt",
        "results/ablation/ablation.md",
        "results/ablation/robustness.png",
        "results/ablation/gates.json",
        "results/ablation/gates.png",
        "results/report/gates.png",
        "results/report/val_ccc.png",
        "results/report/history.json",
        "data/features/manifest.json",
    ):
        assert (repo / path).exists(), path
    # Every result names what produced it.
    profile = (
        "paper, modified: model.visual_channels=(64, 64), model.audio_channels=(32, 32), model.head_hidden=32, "
        "train.epochs=1"
    )
    assert json.loads((repo / "results/sweep/best_config.json").read_text())["setup"] == profile
    table = (repo / "results/ablation/ablation.md").read_text()
    assert "Scored on split `test`" in table and f"- tagf: setup {profile}" in table
    # Corpus seed 1 is a corpus of its own (data/replicas): each variant ran once on each corpus, and the paired
    # comparison pairs each corpus's videos with themselves only (the tiny preset has 2 test videos).
    summary = json.loads((repo / "results/ablation/ablation.json").read_text())
    assert [row["runs"] for row in summary["rows"]] == [2, 2] and summary["primary"] == "lag>=0.5"
    compared = summary["rows"][1]["clean"]["vs_reference"]
    assert (compared["corpora"], compared["seeds"], compared["videos"]) == (2, 1, 4)
    # One seed on two corpora cannot estimate the seed variance: no verdict, and the table says why.
    assert summary["rows"][1]["primary"]["vs_reference"]["verdict"].startswith(
        "not testable (one training seed"
    )
    per_video = pq.read_table(repo / "results/ablation/per_video.parquet").to_pandas()
    shifts = per_video[per_video["perturbation"] == "shift_s"]
    assert set(zip(shifts["corpus_seed"], shifts["level"])) == {
        (c, s) for c in (0, 1) for s in (-0.5, 0, 0.5)
    }
    rows = json.loads((repo / "results/ablation/robustness.json").read_text())
    assert {"model", "perturbation", "level", "ccc_mean", "ccc_low", "ccc_high"} <= set(rows[0])
    # The stored scores give every table again, to the byte (what a re-analysis runs).
    sh(
        repo,
        str(BIN / "tagf"),
        "compare",
        "results/ablation/per_video.parquet",
        "--output",
        str(repo.parent / "again"),
    )
    for name in ("ablation.json", "ablation.md", "gates.json", "power.json", "robustness.json"):
        assert (repo.parent / "again" / name).read_bytes() == (
            repo / "results/ablation" / name
        ).read_bytes(), name

    registry = json.loads((repo / "results/registry.json").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("tagf", "challenger").version) == str(registry["version"])
    assert str(client.get_model_version_by_alias("tagf", "champion").version) == str(registry["champion"])

    # dvc plots: the robustness plot is one panel per perturbation with one line per model (the page itself loads
    # Vega from a CDN, so the spec is what can be checked offline).
    specs = json.loads(sh(repo, str(BIN / "dvc"), "plots", "show", "--json").stdout)["data"]
    (robustness,) = [p for name, p in specs.items() if name.endswith("robustness.json")]
    spec = robustness[0]["content"]
    assert spec["facet"]["column"]["field"] == "perturbation"
    assert spec["spec"]["encoding"]["color"]["field"] == "model"
    assert {row["model"] for row in spec["data"]["values"]} == {"tagf", "audio_only"}
    (history,) = [p for name, p in specs.items() if name.endswith("ablation/history.json")]
    assert history[0]["content"]["encoding"]["color"]["field"] == "model"  # a line per variant
    assert {row["model"] for row in history[0]["content"]["data"]["values"]} == {"tagf", "audio_only"}

    shown = sh(repo, str(BIN / "dvc"), "metrics", "show", "--json")
    assert "best_tagf" in shown.stdout
    again = sh(repo, str(BIN / "dvc"), "repro")
    # Only the source fingerprint runs (always); its output is unchanged, so nothing else does.
    assert again.stdout.count("Running stage") == 1 and "Running stage 'source'" in again.stdout

    # Editing the loss (a module training imports) or any platform module makes the training side stale, never the
    # data stages.
    for edited in ("tagf/metrics.py", "orchestration/params.py", "orchestration/commands/sweep.py"):
        with (repo / edited).open("a") as f:
            f.write("\n# edited\n")
        status = json.loads(sh(repo, str(BIN / "dvc"), "status", "--json").stdout)
        assert {"sweep", "ablate", "report", "register"} <= set(status), edited
        assert not {"corpus", "prepare", "features"} & set(status), edited
        sh(repo, "git", "checkout", edited)

    # A training-only change invalidates the training side, never the data stages.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.0005
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh(repo, str(BIN / "dvc"), "status", "--json").stdout)
    assert "sweep" in status
    assert not {"corpus", "prepare", "features"} & set(status)


def test_the_data_stages_hash_the_same_from_another_checkout_path(repo, tmp_path):
    """A second checkout elsewhere (another depth, another name): every data stage's outputs have the same md5."""
    if not (repo / "dvc.lock").exists():  # run on its own: the first checkout's data stages
        initialise(repo)
    sh(repo, str(BIN / "dvc"), "repro", "features")
    other = initialise(project(tmp_path / "elsewhere" / "deeper" / "clone", TINY))
    sh(other, str(BIN / "dvc"), "repro", "features")
    first, second = (yaml.safe_load((r / "dvc.lock").read_text())["stages"] for r in (repo, other))
    for stage in DATA_STAGES:
        assert first[stage]["outs"] == second[stage]["outs"], stage
    assert paths_in_outputs(other) == []


def test_a_changed_affwild2_tree_reruns_exactly_the_data_stages(tmp_path):
    from tagf.data.synth.corpus import write_corpus

    tree = tmp_path / "Aff-Wild2"  # the synthetic corpus is in Aff-Wild2's layout
    write_corpus(str(tree), "tiny", seed=1)
    aff_wild2 = {
        "data": {"source": "affwild2", "root": str(tree)},
        "splits": {"selection": "dev", "report": "validation", "dev_fraction": 0.25},
        "ablate": {"primary": "clean"},  # Aff-Wild2 has no ground-truth lags to pool frames by
    }
    repo = project(tmp_path / "repo", aff_wild2)
    (repo.parent / "imports").mkdir()
    sh(repo, "git", "init", "-q")
    sh(repo, str(BIN / "dvc"), "init", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "pipeline")
    first = sh(repo, str(BIN / "dvc"), "repro", "prepare")
    assert all(f"Running stage '{s}'" in first.stdout for s in ("source", "corpus", "prepare"))
    again = sh(repo, str(BIN / "dvc"), "repro", "prepare")
    assert again.stdout.count("Running stage") == 1  # the fingerprint, which finds the same tree

    labels = next(
        (tree / "VA_Estimation_Challenge" / "Train_Set").glob("*.txt")
    )  # same params, one label corrected
    header, first_row, *rest = labels.read_text().splitlines()
    labels.write_text("\n".join([header, "0.125,0.125", *rest]) + "\n")
    changed = sh(repo, str(BIN / "dvc"), "repro", "prepare")
    assert all(f"Running stage '{s}'" in changed.stdout for s in ("source", "corpus", "prepare"))
    status = json.loads(sh(repo, str(BIN / "dvc"), "status", "--json").stdout)
    assert "data/index.parquet" in status["features"][0]["changed deps"]  # downstream of the index, in turn


def test_invalid_params_stop_the_first_stage(tmp_path):
    from conftest import run_cli

    from tagf.errors import ParamsError

    (tmp_path / "params.yaml").write_text("data:\n  preset: huge\n")
    proc = run_cli(
        "source", str(tmp_path / "source.json"), "--params", str(tmp_path / "params.yaml"), check=False
    )
    assert (
        proc.returncode == ParamsError.exit_code
        and "data.preset: Input should be 'tiny', 'default', 'large', 'misaligned', 'misaligned_tiny', 'sync', 'sync_tiny', 'broadcast' or 'broadcast_tiny'"
        in proc.stderr
    )
    assert not (tmp_path / "source.json").exists()
