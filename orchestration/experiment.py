"""One Tune experiment with its MLflow parent run: the lifecycle a sweep, an ablation and each of its tuning
studies share, written once.

    with Experiment(driver, name, "tagf sweep", fingerprint, resume).parent(run_name, tags) as run:
        results = run.fit(trainable, expected, "sweep x", param_space=..., tune_config=..., run_config=...)

- **Begin**: one experiment per Ray experiment folder at a time (a lock file, refused with one line naming its
  holder while that process lives); resume it or start over (orchestration.resumption: the state file, the
  fingerprint; a damaged state file is one line naming it and `--restart`).
- **The parent run**: continued or created; a tracking store that refuses (down, 5xx, an unknown run) is a
  TrackingError (exit 6) naming the resume command, never a traceback.
- **Fit**: Tune's tuner, restored or new, run with SIGTERM stopping it as SIGINT does.
- **End**: a tracking outage stops it with exit 6, an interruption with exit 8, each naming the command that resumes
  it; whatever state the trials were left in, and whatever closing their runs then costs. Every trial failing is a
  RunError naming the first error. The runs of finished trials that stayed open are closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.driver import Driver
from orchestration.mlflow_trials import close_unfinished
from orchestration.resumption import (
    begin,
    check_complete,
    parent_run,
    resume_command,
    start_parent,
    stoppable,
    tuner,
)
from orchestration.tracking_watch import STOPPED, outage_bound_s
from tagf import storage
from tagf.errors import RunError, StorageError, TrackingError

LOCK_SUFFIX = ".tagf_lock.json"  # beside the experiment folder, which starting over removes
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRACKING_ERRORS = (MlflowException, requests.RequestException)


def error_line(error: BaseException, trial_path: str) -> str:
    """A trial's error as one line: what its traceback ends with (colours removed), and where its whole traceback
    is (Ray's error carries the worker's traceback in its message)."""
    lines = [line.strip() for line in ANSI.sub("", str(error)).splitlines() if line.strip()]
    last = lines[-1] if lines else type(error).__name__
    return f"{last[:300]} (traceback: {trial_path}/error.txt)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


@dataclass
class Experiment:
    driver: Driver
    name: str  # the Ray experiment under sweep.storage
    command: str  # how the user started it, for messages: "tagf sweep"
    fingerprint: str
    resume: bool
    client: MlflowClient = field(init=False)
    path: str = field(init=False)
    resumed: bool = field(init=False, default=False)
    run_id: str | None = field(init=False, default=None)

    def __post_init__(self):
        self.client = MlflowClient(self.driver.tracking_uri)
        self.path = self.driver.experiment_path(self.name)

    @contextlib.contextmanager
    def parent(self, run_name: str, tags: dict[str, str], nested: bool = False) -> Iterator[Experiment]:
        """The experiment held (its lock) with its parent run open; ended as it ends (orchestration.resumption)."""
        with self._lock():
            with self._tracking("open the parent run of"):
                found = begin(self.client, self.path, self.command, self.fingerprint, self.resume)
                self.resumed = found is not None
                run = start_parent(
                    found,
                    self.path,
                    self.fingerprint,
                    nested=nested,
                    experiment_id=self.driver.experiment_id,
                    run_name=run_name,
                    tags=tags,
                )
            self.run_id = run.info.run_id
            with parent_run(run):
                yield self

    def fit(self, trainable: Any, expected: int, what: str, **new: Any):
        """Run the experiment's trials (Tune's restored experiment, or a new one of `new`'s param_space, tune_config
        and run_config); return its results once every trial ended, or raise the one-line error that says how it
        stopped and how to resume it."""
        experiment = tuner(self.path, self.resumed, trainable, **new)
        with stoppable():
            results = experiment.fit()
        if STOPPED.get("cause") == "outage":  # whatever the trials' states: the tracking server is away
            raise self._outage(what, results, expected)
        with self._tracking(f"check the trials of {what} in"):
            check_complete(results, expected, what, self.driver.tracking_uri, self.client, self.run_id)
        if all(r.error is not None or r.metrics.get("mlflow_run_id") is None for r in results):
            failed = next((r for r in results if r.error is not None), None)
            first = "no trial reported a result" if failed is None else error_line(failed.error, failed.path)
            raise RunError(f"{what}: every trial failed; first error: {first}")
        with self._tracking(f"close the runs of {what} in"):
            close_unfinished(self.driver.tracking_uri, self.driver.tags, results)
        return results

    def _outage(self, what: str, results, expected: int) -> TrackingError:
        return TrackingError(
            f"tracking server {self.driver.tracking_uri} unreachable for {outage_bound_s():g} s: {what} stopped "
            f"after {results.num_terminated} of {expected} trials; once it is back: {resume_command()}"
        )

    @contextlib.contextmanager
    def _tracking(self, doing: str) -> Iterator[None]:
        """A tracking store that is down or refuses while we `doing` it: exit 6, one line, the resume command."""
        try:
            yield
        except TRACKING_ERRORS as err:
            message = getattr(err, "message", None) or str(err) or type(err).__name__
            raise TrackingError(
                f"could not {doing} {self.driver.tracking_uri} ({message.splitlines()[0][:200]}); once it "
                f"answers: {resume_command()}"
            ) from None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """This process holds the experiment folder: another live one is refused with one line (two users, or
        two DVC stages, sharing sweep.storage and a name would mix their trials and resume states)."""
        fs, path = storage.filesystem(self.path.rstrip("/") + LOCK_SUFFIX)
        if fs.exists(path):
            try:
                holder = json.loads(fs.cat_file(path))
                pid, host = int(holder["pid"]), str(holder["host"])
            except (ValueError, KeyError, TypeError):
                pid, host = None, None
            here = host == os.uname().nodename
            if pid is not None and pid != os.getpid() and (not here or _alive(pid)):
                raise StorageError(
                    f"{self.path}: in use by another {self.command} (pid {pid} on {host}: {path}); give this "
                    "one another sweep.name or --storage, or wait for it (a lock whose process died on another "
                    "host: remove the file)"
                )
        self._hold()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fs.rm(path)

    def _hold(self) -> None:
        fs, path = storage.filesystem(self.path.rstrip("/") + LOCK_SUFFIX)
        storage.put(fs, path, json.dumps({"pid": os.getpid(), "host": os.uname().nodename}).encode())
