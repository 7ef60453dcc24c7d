"""Real services for the tests that start them: a user's activated environment, long-running processes stopped by
process group, and Ray nodes of this machine (`ray start`)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port

BIN = Path(sys.executable).parent  # the project's venv: what `source .venv/bin/activate` puts on PATH


def activated_env(**extra: str) -> dict[str, str]:
    """The environment of a user who ran `source .venv/bin/activate`; nothing of ours leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS", "PYTHONPATH"))}
    return {**env, "PATH": f"{BIN}:{env['PATH']}", "VIRTUAL_ENV": str(BIN.parent), **extra}


def wait_until(ok, what: str, timeout_s: float = 90, proc: subprocess.Popen | None = None) -> None:
    """Poll `ok()` until true; fail at the timeout, or at once when `proc` (what should come up) has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}):\n{proc.log_path.read_text()[-3000:]}")
        try:
            if ok():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} did not come up in {timeout_s} s")


class Services:
    """Long-running processes started by a test, each in its own session, stopped by process group."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], log: Path, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        proc.log_path = log
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):  # `ray start --block` shuts its node down on SIGTERM
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def ray_node(services: Services, logs: Path, name: str, *options: str) -> subprocess.Popen:
    """One Ray node of this machine. Its agent's HTTP port is its own (the default, 52365, is taken by any other
    Ray on the machine); every other port Ray picks free."""
    return services.start(
        [
            str(BIN / "ray"),
            "start",
            "--block",
            "--num-cpus",
            "1",
            "--object-store-memory",
            str(100 * 2**20),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--disable-usage-stats",
            *options,
        ],
        logs / f"ray-{name}.log",
        # Nothing to drain when the test stops the node: stop in seconds, not Ray's default 30.
        env=activated_env(RAY_AUTH_MODE="disabled", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="1"),
    )


def ray_head(services: Services, logs: Path, gcs: int, *options: str) -> subprocess.Popen:
    """The head node, its GCS on port `gcs`, its Ray client server on a free port."""
    return ray_node(
        services,
        logs,
        "head",
        "--head",
        "--port",
        str(gcs),
        "--ray-client-server-port",
        str(free_port()),
        *options,
    )
