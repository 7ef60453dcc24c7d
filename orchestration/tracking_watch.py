"""Tracking outages: MLflow clients that give up within seconds, and a watch that stops the experiment when the
tracking server stays away.

MLflow's HTTP client retries a failed request for minutes by default; every process of a sweep or an ablation (the
driver, and Ray's workers through the job's runtime environment) gets bounded retries instead (CLIENT_RETRIES, which
the environment overrides). The driver's TrackingWatch asks the server's /health every few seconds while Tune runs,
prints a line while it is away, and after TAGF_TRACKING_OUTAGE_S (default 60) of outage stops the experiment the way
Ctrl-C does (Tune's own SIGUSR1 handler), so the state is saved and `--resume` continues once the server is back.
"""

from __future__ import annotations

import os
import signal
import time

import requests
from ray import tune

from tagf.errors import ParamsError

OUTAGE_ENV = "TAGF_TRACKING_OUTAGE_S"
# Each request: 3 retries 1, 2, 4 s apart, each attempt at most 10 s: well under a minute in all.
CLIENT_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
CHECK_EVERY_S = 5.0
STOPPED: dict[str, str] = {}  # why the running experiment was stopped early: {"cause": "SIGTERM" | "outage"}


def bounded_retries() -> dict[str, str]:
    """Set the bounded retries in this process (what the environment says wins); returns them, for the workers."""
    for key, value in CLIENT_RETRIES.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in CLIENT_RETRIES}


def outage_bound_s() -> float:
    raw = os.environ.get(OUTAGE_ENV, "60")
    try:
        bound = float(raw)
    except ValueError:
        bound = -1.0
    if not bound > 0:
        raise ParamsError(f"{OUTAGE_ENV}={raw}: expected a positive number of seconds")
    return bound


def stop_tune(cause: str) -> None:
    """End the running Tune loop as Ctrl-C does: Tune saves its state and returns what it has."""
    STOPPED.setdefault("cause", cause)
    os.kill(os.getpid(), signal.SIGUSR1)


def healthy(uri: str) -> bool:
    try:
        return requests.get(uri.rstrip("/") + "/health", timeout=2).ok
    except requests.RequestException:
        return False


class TrackingWatch(tune.Callback):
    def __init__(self, uri: str, bound_s: float):
        self.uri, self.bound_s = uri, bound_s

    def __getstate__(self):  # Tune pickles its callbacks into the experiment state
        return {"uri": self.uri, "bound_s": self.bound_s}

    def setup(self, **info):
        self.down_since: float | None = None
        self.checked = 0.0

    def on_step_begin(self, iteration, trials, **info):
        now = time.monotonic()
        if not self.uri.startswith(("http://", "https://")) or now - self.checked < CHECK_EVERY_S:
            return
        self.checked = now
        if healthy(self.uri):
            if self.down_since is not None:
                print(f"tracking server {self.uri} is back after {now - self.down_since:.0f} s", flush=True)
            self.down_since = None
            return
        self.down_since = self.down_since or now
        waited = now - self.down_since
        print(
            f"tracking server {self.uri} unreachable for {waited:.0f} s (stopping at {self.bound_s:g} s)",
            flush=True,
        )
        if waited >= self.bound_s and "cause" not in STOPPED:
            stop_tune("outage")
