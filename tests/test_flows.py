"""The documented user flows, run exactly as written: their command blocks are read from docs/, never copied here.

docs/cluster.md: a sweep submitted with `ray job submit` to a real two-node Ray cluster (`ray start --head` + `ray
start --address` on this machine), data and outputs on shared paths, runs in a real `mlflow server`. docs/mlflow.md:
the champion served by `mlflow models serve` in the environment MLflow builds from the model's own requirements and
code.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
import yaml
from conftest import free_port, mlflow_server_command
from mlflow.tracking import MlflowClient
from ray_services import Services, activated_env, ray_head, ray_node, wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the project's venv: what `source .venv/bin/activate` puts on PATH


def doc_blocks(document: str) -> list[str]:
    """The ```bash blocks of one of docs/."""
    return re.findall(r"```bash\n(.*?)```", (REPO / "docs" / document).read_text(), re.S)


def mlflow_server(services: Services, where: Path) -> tuple[str, subprocess.Popen]:
    """A real tracking server (started, not waited for): its URL and process."""
    port = free_port()
    server = services.start(
        mlflow_server_command(port, where / "mlflow.db", where / "mlartifacts"),
        where / "mlflow-server.log",
        env=activated_env(),
    )
    return f"http://127.0.0.1:{port}", server


@pytest.fixture
def ray_temp_dir():
    """Short (Ray's socket paths have a length limit) and removed afterwards."""
    path = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_flow2_sweep_submitted_as_a_job_runs_on_both_nodes(tiny_corpus, tmp_path, ray_temp_dir, services):
    from ray.util.state import list_actors, list_nodes

    # The user's checkout on storage every node mounts (here: this machine's disk), as docs/cluster.md asks: its
    # git-ignored data/ and results/; the documented command puts Ray's storage there too (sweep.storage stays the
    # default, relative, which a job could not share).
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / ".gitignore", project / ".gitignore")
    shutil.copytree(tiny_corpus["store"], project / "data" / "features")
    params = {
        "model": {
            "key_mode": "length_agnostic",
            "window": 64,
            "visual_channels": [16],
            "audio_channels": [16],
        },
        "train": {"window": 64, "hop": 32, "batch_size": 8, "epochs": 1},
        "sweep": {
            "num_samples": 2,
            "max_concurrent": 2,
            "space": {"train.lr": {"loguniform": [0.0005, 0.005]}},
        },
        "mlflow": {"experiment": "flow2"},  # tracking_uri stays the default sqlite:///mlflow.db
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    tracking, server = mlflow_server(services, tmp_path)  # waited for below, while Ray starts
    gcs, dashboard = free_port(), free_port()
    head = ray_head(
        services,
        tmp_path,
        gcs,
        "--include-dashboard",
        "true",
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard),
        "--temp-dir",
        ray_temp_dir,
    )
    address = f"http://127.0.0.1:{dashboard}"
    wait_until(lambda: requests.get(f"{address}/api/version", timeout=1).ok, "ray head", proc=head)
    worker = ray_node(services, tmp_path, "worker", "--address", f"127.0.0.1:{gcs}")
    wait_until(lambda: requests.get(f"{tracking}/health", timeout=1).ok, "mlflow server", proc=server)
    alive = [("state", "=", "ALIVE")]
    wait_until(lambda: len(list_nodes(address=address, filters=alive)) == 2, "ray worker", proc=worker)

    setup, command = doc_blocks("cluster.md")
    env = activated_env(RAY_ADDRESS=address, MLFLOW_TRACKING_URI=tracking, RAY_AUTH_MODE="disabled")
    exported = [word.split("=")[0] for word in shlex.split(setup, comments=True)[1:]]
    assert exported and set(exported) <= set(env)  # the documented `export` line, with this cluster's values
    job = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-4000:] + job.stderr[-2000:]

    # Outputs on the shared paths, runs in the tracking server.
    best = json.loads((project / "results" / "sweep" / "best_config.json").read_text())
    assert len((project / "results" / "sweep" / "trials.csv").read_text().splitlines()) == 1 + 2
    assert (project / "ray_results" / "tagf-sweep").is_dir()
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("flow2")
    assert experiment is not None, "no runs in the tracking server: MLFLOW_TRACKING_URI did not reach the job"
    runs = client.search_runs([experiment.experiment_id])
    parent = (project / "results" / "sweep" / "parent_run_id").read_text().strip()
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
    assert best["mlflow_run_id"] in {r.info.run_id for r in trials}
    assert all(r.outputs.model_outputs for r in trials)  # the driver-side callback logged each trial's model

    # Each trial runs in an actor of Tune's function trainable (a finished one may take the next trial); Ray's
    # state API says on which node each one ran.
    nodes = {node.node_id for node in list_nodes(address=address)}
    assert len(nodes) == 2

    def actor_nodes() -> set[str]:
        actors = list_actors(address=address, filters=[("class_name", "=", "ImplicitFunc")], limit=100)
        return {a.node_id for a in actors}

    # The state API reports finished actors a moment later on a busy machine.
    wait_until(
        lambda: actor_nodes() == nodes, f"trial actors on both nodes {nodes} (found {actor_nodes()})", 30
    )


def test_flow3_champion_is_served_by_mlflow_models_serve(tmp_path, services):
    import torch

    from orchestration.model_registry import register
    from orchestration.pyfunc_model import log_tagf_model
    from tagf.models import build_model, model_config

    # A registered challenger (what `tagf register` leaves), in the store MLFLOW_TRACKING_URI names.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    torch.manual_seed(0)
    model = build_model(
        model_config(
            "jca", key_mode="length_agnostic", visual_channels=(8,), audio_channels=(8,), head_hidden=8
        )
    ).eval()
    with mlflow.start_run() as run:
        pass
    register(MlflowClient(uri), "tagf", log_tagf_model(model, {}, run.info.run_id), run.info.run_id, 0.5, {})

    # The documented commands, from a directory holding the project's params.yaml.
    (project := tmp_path / "project").mkdir()
    shutil.copy(REPO / "params.yaml", project / "params.yaml")
    lines = [line for block in doc_blocks("mlflow.md") for line in block.splitlines()]
    # MLflow builds the model's environment in its own cache (~/.mlflow/envs) as for any user: once per set of
    # pinned versions, about 2 minutes; then the server is up in seconds.
    env = activated_env(MLFLOW_TRACKING_URI=uri, TAGF_SERVE_MAX_FRAMES="100")
    promote = next(line for line in lines if line.startswith("tagf promote"))
    promoted = subprocess.run(["bash", "-c", promote], cwd=project, env=env, capture_output=True, text=True)
    assert promoted.returncode == 0 and "first champion" in promoted.stdout, promoted.stderr[-2000:]
    serve = shlex.split(next(line for line in lines if line.startswith("mlflow models serve")), comments=True)
    assert "--env-manager" not in serve  # the environment comes from the model, not from ours
    port = free_port()
    serve[serve.index("-p") + 1] = str(port)  # the documented port may be taken on this machine
    server = services.start(["bash", "-c", shlex.join(serve)], tmp_path / "serve.log", cwd=project, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{url}/ping", timeout=1).ok, "mlflow models serve", 400, server)

    rng = np.random.default_rng(0)
    visual, audio = rng.normal(size=(2, 40, 512)), rng.normal(size=(2, 40, 128))
    body = {"inputs": {"visual": visual.tolist(), "audio": audio.tolist()}}  # as docs/mlflow.md writes it
    answer = requests.post(f"{url}/invocations", json=body, timeout=60)
    assert answer.status_code == 200, answer.text[-2000:]
    predictions = np.asarray(answer.json()["predictions"])
    assert predictions.shape == (2, 40, 2) and np.abs(predictions).max() <= 1
    with torch.inference_mode():
        expected = model(
            torch.as_tensor(visual, dtype=torch.float32), torch.as_tensor(audio, dtype=torch.float32)
        )
    np.testing.assert_allclose(predictions, expected.prediction.numpy(), atol=1e-5)

    # Bad requests: each a 400 whose body is one line of JSON naming the problem (orchestration/serving_input.py).
    nan = visual.copy()
    nan[1, 3, 7] = np.nan
    bad = {
        "visual: a value that is not finite (NaN or infinity) at [1, 3, 7]": (nan, audio),
        "visual has [2, 40] [batch, frames] but audio [2, 39]: they must match": (visual, audio[:, :39]),
        "120 frames in one request, more than 100 (TAGF_SERVE_MAX_FRAMES raises it)": (
            np.concatenate([visual, visual[:1]]),
            np.concatenate([audio, audio[:1]]),
        ),
    }
    malformed = {
        message: {"inputs": {"visual": v.tolist(), "audio": a.tolist()}} for message, (v, a) in bad.items()
    }
    expected_shape = "expected [batch, frames, 512]"
    malformed |= {
        f"visual: shape [2, 40, 500], {expected_shape}": {
            "inputs": {"visual": visual[:, :, :500].tolist(), "audio": audio.tolist()}
        },
        f"visual: shape [40, 512], {expected_shape}": {
            "inputs": {"visual": visual[0].tolist(), "audio": audio[0].tolist()}
        },
        'audio: missing; expected {"inputs": {"visual": [...], "audio": [...]}}': {
            "inputs": {"visual": visual.tolist()}
        },
        "visual: shape [2, 0]: no frames to score": {
            "inputs": {"visual": visual[:, :0].tolist(), "audio": audio[:, :0].tolist()}
        },
    }
    for message, request in malformed.items():
        # Python's json writes NaN as the literal a careless client sends (requests' json= refuses to).
        body = json.dumps(request)
        answer = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and "\n" not in answer.text.strip(), answer.text[-2000:]
        assert answer.json()["message"] == message
    # A body nested deeper than Python's parser goes fails in MLflow's parser, before our check (docs/mlflow.md):
    # answered as an error, and the server keeps serving.
    deep = requests.post(
        f"{url}/invocations", data="[" * 100_000, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert deep.status_code >= 400
    assert requests.post(
        f"{url}/invocations",
        json={"inputs": {"visual": visual.tolist(), "audio": audio.tolist()}},
        timeout=60,
    ).ok
