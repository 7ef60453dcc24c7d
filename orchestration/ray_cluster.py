"""Connecting to Ray: an existing cluster (--address, RAY_ADDRESS, or params) or a local one started here."""

from __future__ import annotations

import os

import ray

from tagf import runtime


def cluster_address(flag: str | None = None, configured: str | None = None) -> str | None:
    """--address, else RAY_ADDRESS (set by `ray job submit` to the job's cluster), else params' sweep.address;
    None: start a local cluster. What the user says now beats what the file says."""
    return flag or os.environ.get("RAY_ADDRESS") or configured


def connect(
    flag: str | None = None,
    configured: str | None = None,
    num_cpus: int | None = None,
    env: dict | None = None,
) -> str:
    """Returns what it connected to (the address from cluster_address, or "local"); `env` goes to every worker."""
    # Every epoch checkpoints (retries resume from it), and Tune snapshots its state with each; its warning that
    # snapshots are frequent would repeat every few seconds and asks for nothing the user should change.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return "already connected"
    # The driver's kernel pins (tagf.runtime) go to every worker of the job, on whichever node it runs.
    reproducible = runtime.is_reproducible()
    pins = {
        **runtime.kernel_environment(reproducible),
        **({"TAGF_REPRODUCIBLE": "1"} if reproducible else {}),
        **(env or {}),
    }
    runtime_env = {"env_vars": pins} if pins else None
    target = cluster_address(flag, configured)
    if target:
        ray.init(address=target, log_to_driver=False, runtime_env=runtime_env)
        return target
    ray.init(
        address="local",  # a new Ray of our own, even where `ray start` runs one on this machine
        num_cpus=num_cpus or runtime.cpus_available(),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env=runtime_env,
    )
    return "local"
