"""Nothing lost on a shared cluster, drilled with real processes: two users starting sweeps at once on a new
SQLite store, two sweeps claiming one Ray experiment folder, a tracking server that answers 503, and resume state
that is damaged or names a run the store does not have. Each ends in one line with its exit status, never a
traceback, and never two experiments' trials mixed."""

import http.server
import json
import os
import subprocess
import threading

import pytest
from conftest import TAGF, cli_error, free_port, run_cli, sweep_args, sweep_cli, write_params

pytestmark = pytest.mark.slow


def sweep(params, corpus, output, *extra) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [*TAGF, *sweep_args(params, corpus, output, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def one_trial(path, **changes):
    return write_params(path, sweep__num_samples=1, sweep__max_concurrent=1, train__epochs=1, **changes)


def test_two_users_at_once_on_a_new_store_and_on_one_experiment_folder(tiny_corpus, tmp_path):
    """Three sweeps start together on a store that does not exist yet: the two of different names both finish
    (the store's creation is serialised), the one claiming a folder in use is refused with one line."""
    store = tmp_path / "ray_results"
    common = {"sweep__storage": str(store), "mlflow__tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    alice = one_trial(tmp_path / "alice.yaml", sweep__name="alice", **common)
    bob = one_trial(tmp_path / "bob.yaml", sweep__name="bob", **common)
    started = [sweep(p, tiny_corpus, tmp_path / f"out-{k}") for k, p in enumerate((alice, bob))]
    procs = [p.communicate(timeout=600) for p in started]
    for (_, err), proc in zip(procs, started):
        assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    for name in ("alice", "bob"):
        state = json.loads((store / name / "tagf_state.json").read_text())
        assert state["parent_run_id"] and not (store / f"{name}.tagf_lock.json").exists()
    # A folder in use: its lock names a live process (this one), so the second claimant is refused.
    lock = store / "alice.tagf_lock.json"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    state = (store / "alice" / "tagf_state.json").read_text()
    out = tmp_path / "x"
    proc = run_cli(
        "sweep",
        "--params",
        str(alice),
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(out),
        check=False,
    )
    holder = f"pid {os.getpid()} on {os.uname().nodename}: {lock}"
    assert proc.returncode == 5 and cli_error(proc).startswith(
        f"{store / 'alice'}: in use by another tagf sweep ({holder})"
    )
    assert (store / "alice" / "tagf_state.json").read_text() == state  # the holder's state untouched


class Refusing(http.server.BaseHTTPRequestHandler):
    """A tracking server that is up (/health) but refuses every request (503), as an overloaded one behind a proxy."""

    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()
        self.wfile.write(b"OK" if self.path == "/health" else b"Service Unavailable")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_a_tracking_server_answering_503_is_exit_6_in_one_line(tiny_corpus, tmp_path, monkeypatch):
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        params = one_trial(tmp_path / "p.yaml", mlflow__tracking_uri=f"http://127.0.0.1:{port}")
        proc = run_cli(
            "sweep",
            "--params",
            str(params),
            "--store",
            str(tiny_corpus["store"]),
            "--output",
            str(tmp_path / "o"),
            check=False,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 6 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert cli_error(proc).startswith(f"MLflow tracking store http://127.0.0.1:{port}:")


@pytest.mark.parametrize("state", ['{"parent_run_id": "4', "[]"], ids=["truncated", "not a state"])
def test_damaged_resume_state_is_one_line_naming_it(tiny_corpus, tmp_path, monkeypatch, state):
    params = one_trial(tmp_path / "p.yaml")
    folder = tmp_path / "ray_results" / "tagf-sweep"
    folder.mkdir(parents=True)
    (folder / "tagf_state.json").write_text(state)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    proc = sweep_cli(params, tiny_corpus, tmp_path / "o", "--resume", check=False)
    assert proc.returncode == 5, proc.stderr[-3000:]
    assert cli_error(proc) == (
        f"{folder}/tagf_state.json: damaged resume state (not the JSON tagf wrote); remove {folder} to start over"
    )


def test_a_resume_state_naming_a_run_the_store_lacks_starts_over(tiny_corpus, tmp_path, monkeypatch):
    params = one_trial(tmp_path / "p.yaml")
    folder = tmp_path / "ray_results" / "tagf-sweep"
    folder.mkdir(parents=True)
    (folder / "tagf_state.json").write_text(json.dumps({"parent_run_id": "0" * 32, "fingerprint": "x"}))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    proc = sweep_cli(params, tiny_corpus, tmp_path / "o", "--resume")
    assert (
        f"its parent run {'0' * 32} is not in this tracking store): starting over"
        in proc.stdout + proc.stderr
    )


def test_a_damaged_checkpoint_restarts_its_trial_in_the_same_run(tiny_corpus, tmp_path, capsys):
    """A restored checkpoint that fails its sha256 is not used again and again: the trial starts over from its first
    epoch, in its own child run (the run id file is kept)."""
    from orchestration.trial import RUN_ID_FILE, _usable
    from tagf.params import RunParams
    from tagf.training.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE
    from tagf.training.trainer import train

    setup = RunParams(profile="small").setup("concat", train={"epochs": 1})
    train(setup.model, setup.train, store=str(tiny_corpus["store"]), out_dir=str(tmp_path), callbacks=[])
    restored = tmp_path / CHECKPOINT_DIR
    (restored / RUN_ID_FILE).write_text("a-run-id")
    data = (restored / CHECKPOINT_FILE).read_bytes()
    (restored / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])  # truncated
    assert _usable(restored) == restored
    assert sorted(p.name for p in restored.iterdir()) == [RUN_ID_FILE]
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "starts over from its first epoch" in said and CHECKPOINT_FILE in said
