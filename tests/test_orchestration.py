"""The platform against real services: local Ray, a real MLflow store and server (the two-node cluster: test_flows)."""

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from conftest import TAGF, children, free_port, mlflow_server_command, run_cli, sweep_cli, write_params
from mlflow.tracking import MlflowClient

from tagf.errors import Interrupted, ParamsError, TrackingError

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_local_sweep_tracks_registers_and_serves(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    params = write_params(tmp_path / "params.yaml")
    store = str(tiny_corpus["store"])
    run_cli("sweep", "--params", str(params), "--store", store, "--output", str(tmp_path / "sweep"))
    best = json.loads((tmp_path / "sweep" / "best_config.json").read_text())
    assert best["model"]["gate"] in ("step_bilstm", "fc") and best["mlflow_run_id"]
    trials = (tmp_path / "sweep" / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 3
    pids = {row["pid"] for row in csv.DictReader(trials)}
    assert len(pids) <= 2  # two trials at a time: the third ran on an actor reused from one of the first two

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent_id = (tmp_path / "sweep" / "parent_run_id").read_text().strip()
    kids = children(uri, "tagf-test", parent_id)
    assert len(kids) == 3 and all(k.info.status == "FINISHED" for k in kids)
    client = MlflowClient(uri)
    for kid in kids:
        history = client.get_metric_history(kid.info.run_id, "val_ccc_mean")
        assert [m.step for m in history] in ([1], [1, 2])  # ASHA may stop a trial after its grace period
        assert (
            # Named and tagged after what it trained: TAGF with the fc gate is GRJCA.
            kid.data.tags["variant"] == {"step_bilstm": "tagf", "fc": "grjca"}[kid.data.params["model.gate"]]
            # Short: the model, then the values it sampled (the gate is in the model's name already).
            and kid.info.run_name.startswith(kid.data.tags["variant"] + " lr=")
            and "gate" not in kid.info.run_name
            and kid.data.tags["data_version"]
            and kid.data.tags["git_commit"]
        )
        assert "train.lr" in kid.data.params and "model.gate" in kid.data.params
        assert {a.path for a in client.list_artifacts(kid.info.run_id)} >= {"metrics.json", "val_ccc.png"}
    parent = client.get_run(parent_id)
    assert parent.info.run_name == f"tagf-sweep {parent.data.tags['git_commit'][:8]}"
    (dataset,) = parent.inputs.dataset_inputs  # the feature store, versioned: MLflow's Dataset column
    assert dataset.dataset.digest == parent.data.tags["data_version"][:36]
    assert parent.data.metrics["best_val_ccc_mean"] == pytest.approx(
        max(k.data.metrics["best_val_ccc_mean"] for k in kids)
    )
    # The environment it ran in: the digest on every run, the full package list on the parent.
    assert parent.data.tags["env_torch"] == kids[0].data.tags["env_torch"] == version("torch")
    with tempfile.TemporaryDirectory() as tmp:
        listed = json.loads(Path(client.download_artifacts(parent_id, "environment.json", tmp)).read_text())
    assert listed["torch"] == version("torch") and listed["mlflow"] == version("mlflow")

    run_cli(
        "register",
        "--params",
        str(params),
        "--store",
        store,
        "--sweep",
        str(tmp_path / "sweep"),
        "--output",
        str(tmp_path / "registry.json"),
    )
    summary = json.loads((tmp_path / "registry.json").read_text())
    assert str(summary["version"]) == "1" and str(summary["champion"]) == "1" and summary["promoted"]
    register = ["register", "--params", str(params), "--store", store, "--sweep", str(tmp_path / "sweep")]
    again = run_cli(*register, "--output", str(tmp_path / "again.json"))
    assert "already registered (same model file): tagf v1" in again.stdout  # no duplicate version
    # From the DVC-tracked outputs alone: a tracking store without the sweep's runs logs the model file itself.
    (tmp_path / "elsewhere").mkdir()
    other = write_params(tmp_path / "elsewhere" / "params.yaml")
    elsewhere = run_cli(
        *register[:1], "--params", str(other), *register[3:], "--output", str(tmp_path / "e.json")
    )
    assert "registered tagf v1" in elsewhere.stdout
    fresh = MlflowClient(f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}")
    assert str(fresh.get_model_version_by_alias("tagf", "champion").version) == "1"
    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model("models:/tagf@champion")
    out = served.predict(
        {"visual": np.zeros((2, 40, 512), np.float32), "audio": np.zeros((2, 40, 128), np.float32)}
    )
    assert out.shape == (2, 40, 2) and np.abs(out).max() <= 1
    monkeypatch.chdir(tmp_path)  # `models:/` URIs resolve against the params' default store here
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    video = "synth006"
    run_cli(
        "predict",
        "--model",
        "models:/tagf@champion",
        "--store",
        store,
        "--videos",
        video,
        "--csv",
        str(tmp_path / "p.csv"),
    )
    assert (tmp_path / "p.csv").read_text().startswith("video,frame,valence,arousal\n")


def test_promotion_moves_the_champion_only_when_better(tmp_path):
    import torch

    from orchestration.model_registry import promote, register
    from orchestration.pyfunc_model import log_tagf_model
    from tagf.models import build_model, model_config

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    torch.manual_seed(0)
    model = build_model(
        model_config(
            "jca",
            key_mode="length_agnostic",
            visual_in=8,
            audio_in=4,
            visual_channels=(8,),
            audio_channels=(4,),
            head_hidden=8,
        )
    )
    with mlflow.start_run() as run:
        pass
    model_uri = log_tagf_model(model, {}, run.info.run_id)

    def candidate(score):
        register(client, "m", model_uri, run.info.run_id, score, {})
        return promote(client, "m")

    first = candidate(0.5)
    assert first.promoted and "first champion" in first.message
    worse = candidate(0.4)
    assert not worse.promoted and "0.4000 vs champion v1 0.5000" in worse.message
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("m", "challenger").version) == "2"
    better = candidate(0.6)
    assert better.promoted and str(client.get_model_version_by_alias("m", "champion").version) == "3"
    candidate(0.1)
    forced = promote(client, "m", force=True)
    assert forced.promoted and "(forced)" in forced.message
    assert str(client.get_model_version_by_alias("m", "champion").version) == "4"


def test_unreachable_tracking_server_fails_before_training(tiny_corpus, tmp_path):
    port = free_port()
    params = write_params(tmp_path / "params.yaml", mlflow__tracking_uri=f"http://127.0.0.1:{port}")
    proc = sweep_cli(params, tiny_corpus, tmp_path / "sweep", check=False)
    assert proc.returncode == TrackingError.exit_code
    assert f"MLflow tracking server http://127.0.0.1:{port} is unreachable" in proc.stderr
    assert not (tmp_path / "ray_results").exists() and not (tmp_path / "sweep").exists()


def test_bad_params_name_the_key(tiny_corpus, tmp_path):
    params = write_params(tmp_path / "params.yaml", sweep__max_concurrent=0)
    proc = sweep_cli(params, tiny_corpus, tmp_path / "out", check=False)
    assert proc.returncode == ParamsError.exit_code
    assert f"{params}: sweep.max_concurrent: Input should be greater than 0" in proc.stderr


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        mlflow_server_command(port, tmp_path / "server.db", tmp_path / "artifacts"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail("mlflow server did not start")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_sweep_against_a_real_mlflow_server(mlflow_server, tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    params = write_params(
        tmp_path / "params.yaml",
        mlflow__tracking_uri=mlflow_server,
        sweep__num_samples=1,
        sweep__max_concurrent=1,
    )
    store = str(tiny_corpus["store"])
    run_cli("sweep", "--params", str(params), "--store", store, "--output", str(tmp_path / "sweep"))
    run_cli(
        "register",
        "--params",
        str(params),
        "--store",
        store,
        "--sweep",
        str(tmp_path / "sweep"),
        "--output",
        str(tmp_path / "registry.json"),
    )
    parent_id = (tmp_path / "sweep" / "parent_run_id").read_text().strip()
    assert len(children(mlflow_server, "tagf-test", parent_id)) == 1
    client = MlflowClient(mlflow_server)
    assert str(client.get_model_version_by_alias("tagf", "champion").version) == "1"
    proc = run_cli("promote", "--params", str(params), check=False)
    assert proc.returncode == 0 and "already the champion" in proc.stdout


def test_interrupted_sweep_resumes_and_keeps_finished_trials(tiny_corpus, tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    params = write_params(tmp_path / "params.yaml", sweep__num_samples=3, sweep__max_concurrent=1)
    cmd = [
        *TAGF,
        "sweep",
        "--params",
        str(params),
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path / "sweep"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    experiment = tmp_path / "ray_results" / "tagf-sweep"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(experiment.glob("run_trial_*"))) >= 2:  # one serial trial finished, the next started
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == Interrupted.exit_code, (
        "the sweep finished before it could be interrupted"
    )
    first = sorted(experiment.glob("run_trial_*"), key=lambda p: p.stat().st_ctime)[0]
    results_before = (first / "result.json").read_text()
    assert results_before.strip()

    run_cli(
        "sweep",
        "--params",
        str(params),
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path / "sweep"),
        "--resume",
    )
    assert len((tmp_path / "sweep" / "trials.csv").read_text().splitlines()) == 1 + 3
    assert (first / "result.json").read_text() == results_before  # kept, not rerun
    assert len(list(experiment.glob("run_trial_*"))) == 3


def test_failing_trial_is_retried_from_its_checkpoint(tiny_corpus, tmp_path, monkeypatch):
    import failing_callback
    from ray import cloudpickle

    from orchestration.params import load_params
    from orchestration.sweep import run_sweep

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cloudpickle.register_pickle_by_value(failing_callback)  # Ray workers cannot import the tests directory
    params = load_params(
        write_params(
            tmp_path / "params.yaml", sweep__num_samples=1, sweep__max_concurrent=1, sweep__grace_period=2
        )
    )
    marker = tmp_path / "failed-once"
    result = run_sweep(
        params,
        str(tiny_corpus["store"]),
        str(tmp_path / "sweep"),
        extra_callbacks=[failing_callback.FailOnce(str(marker))],
    )
    assert marker.exists()  # it did fail once
    assert result.trials == 1
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (kid,) = children(uri, "tagf-test", result.parent_run_id)
    assert kid.info.status == "FINISHED"
    steps = [m.step for m in MlflowClient(uri).get_metric_history(kid.info.run_id, "val_ccc_mean")]
    assert steps == [1, 2]  # the retry resumed after epoch 1 instead of starting over
    (trial_dir,) = (tmp_path / "ray_results" / "tagf-sweep").glob("run_trial_*")
    assert len(list(trial_dir.glob("checkpoint_*"))) == 1  # only the latest checkpoint is kept


def test_failing_ablation_trial_resumes_and_keeps_its_child_run(tiny_corpus, tmp_path, monkeypatch):
    import failing_callback
    from ray import cloudpickle

    from orchestration.ablation import run_ablation
    from orchestration.params import load_params

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cloudpickle.register_pickle_by_value(failing_callback)
    params = load_params(
        write_params(
            tmp_path / "params.yaml",
            sweep__max_concurrent=1,
            ablate__variants=["jca"],
            ablate__reference="jca",
            ablate__seeds=[0],
            evaluate__shifts_s=[0.2],
            evaluate__snr_db=[],
            evaluate__dropout=[],
        )
    )
    marker = tmp_path / "failed-once"
    before = set(Path(tempfile.gettempdir()).glob("tagf-trial-*"))
    summary = run_ablation(
        params,
        str(tiny_corpus["store"]),
        str(tmp_path / "ablation"),
        extra_callbacks=(failing_callback.FailOnce(str(marker)),),
    )
    assert marker.exists()  # it did fail once
    (row,) = summary["rows"]
    assert row["variant"] == "jca" and set(row["drops"]["shift_s"]) == {"-0.2", "+0.2"}
    # The tiny corpus has ground-truth lags and masks: CCC by effective lag; jca's gate (its last step) is no
    # learned gate, so there is nothing to analyse, and the file says so.
    assert summary["lag_bins"][0] == "lag[0,0.25)" and row["lag"]["lag[0,0.25)"]["value"]["mean"] is not None
    gates = json.loads((tmp_path / "ablation" / "gates.json").read_text())
    assert gates == {"skipped": "gate analysis skipped: no variant of the ablation has a gate"}
    assert (tmp_path / "ablation" / "gates.png").exists()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tagf-test")
    (parent,) = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("kind") == "ablation"]
    (kid,) = children(uri, "tagf-test", parent.info.run_id)  # the retry reused the trial's child run
    assert kid.data.tags["variant"] == "jca" and kid.info.status == "FINISHED"
    # Group by `group` aggregates a model's seeds and corpora; the verdicts are a table on the parent.
    assert kid.data.tags["group"] == "jca" and kid.info.run_name == "jca"  # nothing its siblings share
    assert parent.info.run_name.startswith("ablation ")
    # The verdict in the runs table: a summary run per model, in its trials' group, the estimate as metrics.
    (verdict,) = children(uri, "tagf-test", parent.info.run_id, kind="summary")
    assert verdict.info.run_name == "jca: reference" and verdict.data.tags["group"] == "jca"
    assert "primary_ccc" in verdict.data.metrics  # (one run: no interval, so no _low and _high)
    assert (
        client.get_run(parent.info.run_id).data.metrics["primary_ccc"] == verdict.data.metrics["primary_ccc"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        table = json.loads(
            Path(client.download_artifacts(parent.info.run_id, "verdicts.json", tmp)).read_text()
        )
    assert table["columns"][:2] == ["model", "control"] and [row[0] for row in table["data"]] == ["jca"]
    steps = [m.step for m in client.get_metric_history(kid.info.run_id, "val_ccc_mean")]
    assert steps == [1, 2]  # resumed after epoch 1 instead of starting over
    assert "report_ccc_mean" in kid.data.metrics
    assert set(Path(tempfile.gettempdir()).glob("tagf-trial-*")) == before  # its work directory was removed


def test_ablation_tunes_each_variant_with_its_own_study(tiny_corpus, tmp_path, monkeypatch):
    from orchestration.ablation import run_ablation
    from orchestration.params import load_params

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    params = load_params(
        write_params(
            tmp_path / "params.yaml",
            train__epochs=1,
            ablate__variants=["jca", "concat"],
            ablate__reference="jca",
            ablate__seeds=[0],
            ablate__tuning={"trials": 2},
            evaluate__shifts_s=[0.2],
            evaluate__snr_db=[],
            evaluate__dropout=[],
        )
    )
    summary = run_ablation(params, str(tiny_corpus["store"]), str(tmp_path / "ablation"))
    assert "Optuna study of 2 trials" in summary["tuning"]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tagf-test")
    runs = client.search_runs([exp.experiment_id])
    studies = {r.info.run_name: r for r in runs if r.data.tags.get("kind") == "ablation-tuning"}
    assert set(studies) == {"tuning jca", "tuning concat"}
    for variant, study in studies.items():
        best_file = client.download_artifacts(study.info.run_id, "best_values.json", str(tmp_path))
        best = json.loads(Path(best_file).read_text())
        assert set(best) == {"train.lr"}  # model.gate defines a variant: not tuned per variant
        assert len(children(uri, "tagf-test", study.info.run_id)) == 2
        # the final run of the variant trained with its own study's best value
        (final,) = [
            r
            for r in runs
            if r.data.tags.get("variant") == variant.split()[1]
            and r.data.params.get("train.seed") == "0"
            and "report_ccc_mean" in r.data.metrics
        ]
        assert float(final.data.params["train.lr"]) == pytest.approx(best["train.lr"])
