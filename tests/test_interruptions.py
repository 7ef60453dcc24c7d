"""Interrupted experiments, for real: signals to a real `tagf ablate`, a real `mlflow server` stopped mid-sweep and
started again. Each ends in one line that names the resume command; the resume keeps every finished trial and leaves
no run RUNNING."""

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from conftest import TAGF, free_port, mlflow_server_command, sweep_args, write_params
from mlflow.tracking import MlflowClient

from orchestration.resumption import CLOSED_TAG
from tagf.errors import Interrupted, TrackingError

pytestmark = pytest.mark.slow
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}


def finished_trials(experiment: Path) -> list[Path]:
    """Trial directories whose trial reported its last result (an ablation's report scores, a sweep's last epoch)."""
    done = []
    for result in experiment.glob("run_trial_*/result.json"):
        lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if any(line.get("done") or "report_ccc_mean" in line for line in lines):
            done.append(result.parent)
    return done


def start_and_wait(cmd: list[str], experiment: Path, trials: int, log: Path, env=ENV) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(finished_trials(experiment)) < trials:
        time.sleep(0.2)
    assert proc.poll() is None, f"it ended before {trials} trials finished:\n{log.read_text()[-3000:]}"
    return proc


def wait_for(ok, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def error_line(log: Path) -> str:
    (line,) = [
        line for line in log.read_text().splitlines() if line.startswith("tagf ") and ": error: " in line
    ]
    return line.split(": error: ", 1)[1]


def runs(uri: str, experiment: str = "tagf-test"):
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def orphaned_trial_dirs() -> set[Path]:
    """Work directories of trial processes that are gone (orchestration.trial names them tagf-trial-<pid>-...)."""
    orphans = set()
    for path in Path(tempfile.gettempdir()).glob("tagf-trial-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            orphans.add(path)
    return orphans


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_interrupted_ablation_resumes_keeping_finished_trials(tiny_corpus, tmp_path, stop):
    params = write_params(
        tmp_path / "params.yaml",
        sweep__max_concurrent=1,
        ablate__variants=["jca", "concat"],
        ablate__reference="jca",
        ablate__seeds=[0, 1],
        evaluate__shifts_s=[0.2],
        evaluate__snr_db=[],
        evaluate__dropout=[],
    )
    cmd = [*TAGF, "ablate", "--params", str(params), "--store", str(tiny_corpus["store"])]
    cmd += ["--output", str(tmp_path / "ablation")]
    experiment = tmp_path / "ray_results" / "tagf-ablation"
    proc = start_and_wait(cmd, experiment, 2, tmp_path / "first.log")
    proc.send_signal(stop)
    proc.wait(timeout=120)
    (first,) = sorted(finished_trials(experiment), key=lambda p: p.stat().st_mtime)[:1]
    kept = (first / "result.json").read_text()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    if (
        stop == signal.SIGKILL
    ):  # nothing could close its runs or remove its trial's work: until the next start
        assert proc.returncode == -signal.SIGKILL
        assert any(r.info.status == "RUNNING" for r in runs(uri))
        wait_for(orphaned_trial_dirs, "the killed trial's process to end")
        resume = [*cmd, "--resume"]
    else:
        assert proc.returncode == Interrupted.exit_code
        message = error_line(tmp_path / "first.log")
        assert (
            message.startswith("ablation interrupted (SIGTERM) after ")
            and " of 4 trials; resume with: " in message
        )
        assert not [r for r in runs(uri) if r.info.status == "RUNNING"]
        resume = shlex.split(message.split("resume with: ", 1)[1])
        assert resume[:2] == ["tagf", "ablate"] and resume[-1] == "--resume"
        resume = [*TAGF, *resume[1:]]

    done = subprocess.run(resume, capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming " in done.stdout
    assert (first / "result.json").read_text() == kept  # finished: kept, not trained again
    assert len(finished_trials(experiment)) == 4
    summary = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    assert {row["variant"] for row in summary["rows"]} == {"jca", "concat"}
    every = runs(uri)
    assert not [r for r in every if r.info.status == "RUNNING"]
    (parent,) = [r for r in every if r.data.tags.get("kind") == "ablation"]
    assert parent.info.status == "FINISHED"
    kids = [
        r
        for r in every
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
        and r.data.tags.get("kind") != "summary"
    ]
    assert len([r for r in kids if r.info.status == "FINISHED"]) == 4
    assert all(CLOSED_TAG not in r.data.tags for r in kids if r.info.status == "FINISHED")
    # Runs of trials that had not checkpointed yet were closed, saying why; their trials ran in new runs.
    assert all(r.data.tags[CLOSED_TAG].startswith("interrupted") for r in kids if r.info.status == "KILLED")
    assert not orphaned_trial_dirs()  # a killed trial's work directory went with the next start


def sweep_outcome(out: Path) -> tuple:
    """What a sweep decided: each trial's sampled values, and the winner with its score. Not the epochs ASHA gave
    each trial: one whose milestone result reached Tune just before the stop may run on after the resume
    (docs/cluster.md)."""
    rows = list(csv.DictReader((out / "trials.csv").read_text().splitlines()))
    keys = sorted(k for k in rows[0] if k.startswith("config/"))
    trials = sorted(tuple(row[k] for k in keys) for row in rows)
    best = json.loads((out / "best_config.json").read_text())
    return trials, best["model"], best["train"], max(float(row["val_ccc_mean"]) for row in rows)


def test_tracking_outage_stops_the_sweep_and_resume_finishes_it(tiny_corpus, tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server_cmd = mlflow_server_command(port, tmp_path / "server.db", tmp_path / "artifacts")

    def serve():
        server = subprocess.Popen(
            server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{uri}/health", timeout=1).ok:
                    return server
            except requests.RequestException:
                time.sleep(0.5)
        os.killpg(server.pid, signal.SIGKILL)
        pytest.fail("mlflow server did not start")

    params = write_params(
        tmp_path / "params.yaml", reproducible=True, sweep__max_concurrent=1, mlflow__tracking_uri=uri
    )
    cmd = [*TAGF, *sweep_args(params, tiny_corpus, tmp_path / "sweep")]
    # What the outage must not change: the same sweep never interrupted (the same params, its own tracking store and
    # storage), run meanwhile: much of this test waits on the server and on the outage.
    (tmp_path / "alone").mkdir()
    alone = write_params(
        tmp_path / "alone" / "params.yaml",
        reproducible=True,
        sweep__max_concurrent=1,
        mlflow__tracking_uri=f"sqlite:///{tmp_path / 'alone' / 'mlflow.db'}",
    )
    reference = subprocess.Popen(
        [*TAGF, *sweep_args(alone, tiny_corpus, tmp_path / "alone" / "sweep")],
        stdout=(tmp_path / "alone.log").open("w"),
        stderr=subprocess.STDOUT,
        env=ENV,
    )
    try:
        server = serve()
    except BaseException:
        reference.kill()
        raise
    try:
        env = {**ENV, "TAGF_TRACKING_OUTAGE_S": "15"}
        proc = start_and_wait(
            cmd, tmp_path / "ray_results" / "tagf-sweep", 1, tmp_path / "first.log", env=env
        )
        os.killpg(server.pid, signal.SIGTERM)  # the tracking server goes away, and stays away
        server.wait(timeout=30)
        assert proc.wait(timeout=300) == TrackingError.exit_code
        message = error_line(tmp_path / "first.log")
        assert message.startswith(
            f"tracking server {uri} unreachable for 15 s: sweep tagf-sweep stopped after "
        )
        assert re.search(
            r"unreachable for [1-9]\d* s \(stopping at 15 s\)", (tmp_path / "first.log").read_text()
        )
        assert "Traceback" not in (tmp_path / "first.log").read_text()
        resume = shlex.split(message.split("once it is back: ", 1)[1])
        assert resume[-1] == "--resume"

        server = serve()
        done = subprocess.run([*TAGF, *resume[1:]], capture_output=True, text=True, env=ENV)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len((tmp_path / "sweep" / "trials.csv").read_text().splitlines()) == 1 + 3
        every = runs(uri)
        assert not [r for r in every if r.info.status == "RUNNING"]
        parents = [r for r in every if r.data.tags.get("kind") == "sweep"]
        assert len(parents) == 1, done.stdout[-3000:]  # the resume continued the parent run
        (parent,) = parents
        kids = [r for r in every if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert parent.info.status == "FINISHED" and len([r for r in kids if r.info.status == "FINISHED"]) == 3
        # The outage cost nothing but time: the same trials and winner as the sweep never interrupted.
        assert reference.wait(timeout=300) == 0, (tmp_path / "alone.log").read_text()[-3000:]
        assert sweep_outcome(tmp_path / "sweep") == sweep_outcome(tmp_path / "alone" / "sweep")
    finally:
        if reference.poll() is None:
            reference.kill()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
