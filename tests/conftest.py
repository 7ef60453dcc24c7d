import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

# Test helpers beside the tests (failing_callback) are imported by name, also from Ray workers.
sys.path.insert(0, str(Path(__file__).parent))

# Under pytest-xdist each test process gets a temporary directory of its own, inherited by everything it starts
# (trial work directories, Ray's sessions): the tests that check for leftover trial directories see their own.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _own = Path(tempfile.gettempdir()) / f"tagf-tests-{os.environ['PYTEST_XDIST_WORKER']}-{os.getpid()}"
    _own.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(_own)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    # Two test processes on two cores: each computes on one thread, and so does what it starts (tagf and torch read
    # OMP_NUM_THREADS). Two threads each on busy cores took 2.3-2.6 times as long (docs/development.md).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


TAGF = [sys.executable, "-m", "tagf"]  # the `tagf` console script
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# MLflow's server starts job runners for its GenAI features (five processes, ~4 CPU-s each to start), which tagf
# never uses; the team server of k8s/base/mlflow.yaml runs without them too.
NO_SERVER_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def mlflow_server_command(port: int, store: Path, artifacts: Path) -> list[str]:
    """A real `mlflow server` on 127.0.0.1:port, one worker, SQLite store, no job runners (NO_SERVER_JOBS)."""
    return [
        "env",
        *(f"{k}={v}" for k, v in NO_SERVER_JOBS.items()),
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store}",
        "--artifacts-destination",
        str(artifacts),
    ]


@pytest.fixture(autouse=True)
def _isolated_tracking_uri():
    """mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI, which would leak into later tests' CLIs."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def has_key(params: dict, dotted: str) -> bool:
    """Whether a params file names `dotted` (`ablate.corpus_seeds`), as DVC requires of every tracked param."""
    for part in dotted.split("."):
        if not isinstance(params, dict) or part not in params:
            return False
        params = params[part]
    return True


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `tagf` command line in a subprocess."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([*TAGF, *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"tagf {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def sweep_args(params: Path, corpus: dict, output: Path, *extra: str) -> list[str]:
    """`tagf sweep`'s arguments for a params file, a corpus fixture's store and an output folder."""
    return [
        "sweep",
        "--params",
        str(params),
        "--store",
        str(corpus["store"]),
        "--output",
        str(output),
        *extra,
    ]


def sweep_cli(params: Path, corpus: dict, output: Path, *extra: str, check: bool = True):
    return run_cli(*sweep_args(params, corpus, output, *extra), check=check)


def cli_error(proc: subprocess.CompletedProcess) -> str:
    """The message of the one `tagf <command>: error:` line of a failed command (the rest of stderr is progress)."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tagf ") and ": error: " in line]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr[-3000:]
    return lines[0].split(": error: ", 1)[1]


def made_once(tmp_path_factory, name: str, make) -> Path:
    """A folder that `make(folder)` fills once for the whole run, also when pytest-xdist runs several test processes
    (its documented recipe: a file lock in the temporary directory the processes share). Read it, never change it.
    A `make` that failed part-way leaves no mark, so the next process to ask builds it again."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> dict[str, Path]:
    """The tiny synthetic corpus, its frame index and its feature store, made once through the CLI."""

    def make(base: Path) -> None:
        run_cli("synth", str(base / "corpus"), "--preset", "tiny", "--seed", "0")
        run_cli("prepare", str(base / "corpus"), str(base / "index.parquet"))
        run_cli("features", str(base / "index.parquet"), str(base / "features"))

    base = made_once(tmp_path_factory, "tiny", make)
    return {"root": base / "corpus", "index": base / "index.parquet", "store": base / "features"}


# A small TAGF that learns the tiny corpus in seconds (measured: validation CCC 0.60-0.68 over seeds 0-2).
SMALL_TAGF = [
    "--set",
    "model.key_mode=length_agnostic",
    "--set",
    "model.window=64",
    "--set",
    "model.visual_channels=[64,32]",
    "--set",
    "model.audio_channels=[32,32]",
    "--set",
    "model.head_hidden=32",
    "--set",
    "train.window=64",
    "--set",
    "train.hop=16",
    "--set",
    "train.lr=1e-3",
    "--set",
    "train.batch_size=8",
]


@pytest.fixture(scope="session")
def trained_tagf(tiny_corpus, tmp_path_factory) -> Path:
    """A TAGF trained through `tagf train` on the tiny corpus (seed 0); returns its run directory."""

    def make(runs: Path) -> None:
        run_cli(
            "train",
            "--store",
            str(tiny_corpus["store"]),
            "--output",
            str(runs / "tagf"),
            *SMALL_TAGF,
            "--set",
            "train.epochs=25",
            "--set",
            "train.early_stop_patience=8",
            "--set",
            "train.seed=0",
        )

    return made_once(tmp_path_factory, "runs", make) / "tagf"


@pytest.fixture(scope="session")
def micro_corpus(tmp_path_factory) -> Path:
    """A four-video synthetic corpus of 2-3 s videos (written once, never modified: copy it to corrupt it)."""
    from tagf.data.synth.corpus import write_corpus
    from tagf.data.synth.presets import SynthPreset

    preset = SynthPreset(videos={"train": 2, "validation": 1, "test": 1}, duration_s=(2, 3), face_px=16)
    return (
        made_once(tmp_path_factory, "micro", lambda base: write_corpus(str(base / "corpus"), preset, seed=3))
        / "corpus"
    )


@pytest.fixture
def services():
    """Long-running processes a test starts (ray_services.Services), stopped after it."""
    from ray_services import Services

    started = Services()
    yield started
    started.stop()


# A small, fast platform set-up for the tests that run sweeps and ablations: params.yaml's sections with changes.
def write_params(path: Path, **changes) -> Path:
    params = {
        "model": {
            "variant": "tagf",
            "key_mode": "length_agnostic",
            "window": 64,
            "visual_channels": [32, 32],
            "audio_channels": [32, 32],
            "head_hidden": 32,
        },
        "train": {"window": 64, "hop": 32, "lr": 0.002, "batch_size": 8, "epochs": 2},
        "sweep": {
            "num_samples": 3,
            "max_concurrent": 2,
            "storage": str(path.parent / "ray_results"),
            "seed": 0,
            "space": {
                "train.lr": {"loguniform": [0.0005, 0.005]},
                "model.gate": {"choice": ["step_bilstm", "fc"]},
            },
        },
        "mlflow": {"tracking_uri": f"sqlite:///{path.parent / 'mlflow.db'}", "experiment": "tagf-test"},
    }
    for key, value in changes.items():  # section__field=value, or a top-level key (reproducible=True)
        if "__" not in key:
            params[key] = value
            continue
        section, field = key.split("__")
        params.setdefault(section, {})[field] = value
    path.write_text(yaml.safe_dump(params))
    return path


def children(uri: str, experiment: str, parent_id: str, kind: str | None = None):
    """The trial runs under a parent (`kind`: the parent's other children instead, e.g. its summary runs)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.data.tags.get("mlflow.parentRunId") == parent_id and r.data.tags.get("kind") == kind
    ]
