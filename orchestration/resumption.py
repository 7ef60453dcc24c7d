"""Interrupted sweeps and ablations: resuming them, and closing what an interruption left behind.

Each keeps `tagf_state.json` in its Ray experiment (`<sweep.storage>/<name>/`, beside Tune's own state, which DVC
does not remove before a stage reruns): its MLflow parent run and a fingerprint of what it runs (the params, the corpora's data versions, the code of tagf/ and orchestration/). `--resume` continues it when
the fingerprint matches (Tune's Tuner.restore: finished trials kept with their child runs, unfinished ones from
their last checkpoint in their own child run again) and starts it over otherwise, saying why; DVC's stages pass
`--resume`, so `dvc repro` after a kill keeps the finished trials, and after any change starts over.

Whatever stopped the last start (SIGINT, SIGTERM, a tracking outage, SIGKILL of the driver), the runs it left
RUNNING are closed at the next start as KILLED, tagged `tagf.closed` with why; a trial that continues reopens its
own. SIGINT (Tune's handler) and SIGTERM (passed on to it) end the Tune loop gracefully, so its state is saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray import tune

import orchestration
import tagf
from orchestration.tracking_watch import STOPPED, stop_tune
from tagf import storage
from tagf.errors import Interrupted, StorageError, TrackingError

STATE_FILE = "tagf_state.json"
CLOSED_TAG = "tagf.closed"


def fingerprint(params: Any, data_versions: list[str]) -> str:
    """What an experiment is: its params, its corpora and the code that runs it."""
    digest = hashlib.sha256(json.dumps(params.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps(sorted(data_versions)).encode())
    for package in (tagf, orchestration):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + path.read_bytes())
    return digest.hexdigest()


def _state(experiment_path: str) -> dict[str, Any] | None:
    """The experiment's resume state, None if it has none; a damaged one is one line naming it and the way out."""
    url = storage.join(experiment_path, STATE_FILE)
    if not storage.exists(url):
        return None
    try:
        state = json.loads(storage.read_text(url))
        if not isinstance(state["parent_run_id"], str) or not isinstance(state["fingerprint"], str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise StorageError(
            f"{url}: damaged resume state (not the JSON tagf wrote); remove {experiment_path} to start over"
        ) from None
    return state


def _parent_exists(client: MlflowClient, run_id: str) -> bool:
    """Whether the tracking store still has the parent run a resume state names (another store, or one reset)."""
    try:
        client.get_run(run_id)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def close_stale(client: MlflowClient, parent_run_id: str, reason: str) -> None:
    """The parent and its children still RUNNING → KILLED, tagged with why (tracking errors only warn)."""
    try:
        runs = client.search_runs(
            [client.get_run(parent_run_id).info.experiment_id],
            f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'",
        )
        for run_id in [parent_run_id, *(r.info.run_id for r in runs)]:
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_tag(run_id, CLOSED_TAG, reason)
                client.set_terminated(run_id, "KILLED")
    except MlflowException as err:
        print(f"warning: could not close the runs of parent {parent_run_id}: {err.message}", flush=True)


def reopen(client: MlflowClient, run_id: str) -> None:
    """A trial continues in its own run: RUNNING again, without the tag that said why it was closed."""
    client.update_run(run_id, status="RUNNING")
    if CLOSED_TAG in client.get_run(run_id).data.tags:
        client.delete_tag(run_id, CLOSED_TAG)


def begin(client: MlflowClient, experiment_path: str, print_as: str, fp: str, resume: bool) -> str | None:
    """The parent run id to continue, or None to start over (the old Ray experiment removed). Closes what the last
    start left RUNNING."""
    state = _state(experiment_path)
    known = state is not None and _parent_exists(client, state["parent_run_id"])
    can = known and state["fingerprint"] == fp and tune.Tuner.can_restore(experiment_path)
    if known:
        reason = "interrupted; resumed" if resume and can else "interrupted; started over"
        close_stale(client, state["parent_run_id"], f"{reason} by a later `{print_as}`")
    if resume and can:
        print(f"resuming {experiment_path} (parent run {state['parent_run_id']})", flush=True)
        return state["parent_run_id"]
    if resume:
        why = (
            "nothing was interrupted there"
            if state is None
            else f"its parent run {state['parent_run_id']} is not in this tracking store"
            if not known
            else "it ran other settings, data or code"
        )
        print(f"nothing to resume in {experiment_path} ({why}): starting over", flush=True)
    fs, path = storage.filesystem(experiment_path)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    return None


def record(experiment_path: str, parent_run_id: str, fp: str) -> None:
    state = {"parent_run_id": parent_run_id, "fingerprint": fp}
    storage.write_text(storage.join(experiment_path, STATE_FILE), json.dumps(state, indent=1))


def start_parent(run_id: str | None, experiment_path: str, fp: str, nested: bool = False, **new: Any):
    """The experiment's MLflow parent run: `run_id`'s (what `begin` returned), else a new one with `new`'s
    experiment_id, run_name and tags, recorded as the experiment's."""
    if run_id is not None:
        return mlflow.start_run(run_id=run_id, nested=nested)
    run = mlflow.start_run(nested=nested, **new)
    record(experiment_path, run.info.run_id, fp)
    return run


def tuner(experiment_path: str, resumed: bool, trainable: Any, **new: Any) -> tune.Tuner:
    """Tune's restored experiment (finished trials kept, errored and unfinished ones continued), or a new Tuner of
    `trainable` with `new`'s param_space, tune_config and run_config."""
    if resumed:
        return tune.Tuner.restore(experiment_path, trainable, resume_errored=True)
    return tune.Tuner(trainable, **new)


def resume_command() -> str:
    args = sys.argv[1:]
    return shlex.join(["tagf", *args, *([] if "--resume" in args else ["--resume"])])


@contextlib.contextmanager
def parent_run(run) -> Iterator[Any]:
    """The parent run, ended as the experiment ends: KILLED when interrupted, FAILED on another error. Its end never
    hides the error (mlflow's own context would raise the tracking server's instead during an outage)."""
    try:
        yield run
    except BaseException as err:
        with contextlib.suppress(MlflowException, OSError):
            mlflow.end_run(
                "KILLED" if isinstance(err, (Interrupted, TrackingError, KeyboardInterrupt)) else "FAILED"
            )
        raise
    mlflow.end_run()


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """While Tune runs: SIGTERM stops it as SIGINT does (the state is saved), and STOPPED says why."""
    STOPPED.clear()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop_tune("SIGTERM"))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_complete(
    results, expected: int, what: str, uri: str, client: MlflowClient, parent_run_id: str
) -> None:
    """Every trial of the experiment ended; else its runs are closed and the one-line error names the resume
    command (exit 8; an outage is told apart before: orchestration.experiment)."""
    finished = results.num_terminated + results.num_errors
    if finished >= expected:
        return
    cause = STOPPED.get("cause", "SIGINT")
    command = resume_command()
    close_stale(client, parent_run_id, f"interrupted ({cause}); `{command}` continues it")
    raise Interrupted(
        f"{what} interrupted ({cause}) after {finished} of {expected} trials; resume with: {command}"
    )
