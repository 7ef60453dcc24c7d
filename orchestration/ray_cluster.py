"""Connecting to Ray: an existing cluster (argument, RAY_ADDRESS, or params) or a local one started here."""

from __future__ import annotations

import os

import ray


def connect(address: str | None = None, num_cpus: int | None = None) -> str:
    """Returns what it connected to. Inside `ray job submit`, RAY_ADDRESS points at the job's cluster."""
    if ray.is_initialized():
        return "already connected"
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        ray.init(address=target, log_to_driver=False)
        return target
    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    return "local"
