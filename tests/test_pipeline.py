"""The whole DVC pipeline, for real: `dvc repro` in a fresh git repo on the tiny corpus."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The paper's set-up (profile `paper`: full-size faithful TAGF, window 300, one model per target) on the tiny
# corpus, shortened to one epoch, one sweep trial and two ablation variants so that it runs in CI.
TINY = {
    "profile": "paper",
    "data": {"preset": "tiny"},
    "train": {"epochs": 1},
    "sweep": {
        "num_samples": 1,
        "max_concurrent": 1,
        "grace_period": 1,
        "space": {"model.gate": {"choice": ["step_bilstm"]}},
    },
    "ablate": {"variants": ["tagf", "audio_only"], "seeds": [0]},
    "evaluate": {"shifts": [0, 15], "snr_db": [10], "dropout": [0.5]},
}


def merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base.get(key, {}), value) if isinstance(value, dict) and key != "space" else value
    return out


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("pipeline")
    for name in ("tagf", "orchestration"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo)
    shutil.copy(ROOT / ".gitignore", repo)
    params = merged(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def sh(repo: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
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


def test_dvc_repro_runs_every_stage_then_nothing(repo):
    sh(repo, "git", "init", "-q")
    sh(repo, str(BIN / "dvc"), "init", "-q")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "pipeline")
    first = sh(repo, str(BIN / "dvc"), "repro")
    for stage in ("corpus", "prepare", "features", "sweep", "ablate", "evaluate", "register"):
        assert f"Running stage '{stage}'" in first.stdout

    metrics = json.loads((repo / "results/evaluate/metrics.json").read_text())
    assert set(metrics) == {"best_tagf", "best_tagf_latent_ccc_mean", "variant_ccc_mean"}
    assert set(metrics["best_tagf"]) == {"ccc_valence", "ccc_arousal", "ccc_mean"}
    assert set(metrics["variant_ccc_mean"]) == {"tagf", "audio_only"}
    for path in (
        "results/sweep/best_config.json",
        "results/sweep/trials.csv",
        "results/sweep/best/model.pt",
        "results/ablation/ablation.md",
        "results/ablation/robustness.png",
        "results/evaluate/gates.png",
        "results/evaluate/val_ccc.png",
        "results/evaluate/history.json",
        "data/features/manifest.json",
    ):
        assert (repo / path).exists(), path
    # Every result names what produced it.
    profile = "paper, modified: train.epochs=1"
    assert json.loads((repo / "results/sweep/best_config.json").read_text())["profile"] == profile
    table = (repo / "results/ablation/ablation.md").read_text()
    assert "Scored on split `test`" in table and f"- tagf: profile {profile}" in table
    rows = json.loads((repo / "results/ablation/robustness.json").read_text())
    assert {"model", "perturbation", "level", "ccc_mean"} <= set(rows[0])

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

    shown = sh(repo, str(BIN / "dvc"), "metrics", "show", "--json")
    assert "best_tagf" in shown.stdout
    again = sh(repo, str(BIN / "dvc"), "repro")
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout

    # A training-only change invalidates the training side, never the data stages.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.0005
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh(repo, str(BIN / "dvc"), "status", "--json").stdout)
    assert "sweep" in status
    assert not {"corpus", "prepare", "features"} & set(status)


def test_invalid_params_stop_the_first_stage(tmp_path):
    from conftest import run_cli

    from tagf.errors import ParamsError

    (tmp_path / "params.yaml").write_text("data:\n  preset: huge\n")
    proc = run_cli("corpus", str(tmp_path / "corpus"), "--params", str(tmp_path / "params.yaml"), check=False)
    assert proc.returncode == ParamsError.exit_code and "data.preset: Input should be 'tiny', 'default', 'large', 'misaligned' or 'misaligned_tiny'" in proc.stderr
    assert not (tmp_path / "corpus").exists()
