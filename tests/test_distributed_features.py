"""`tagf features` on a real two-node Ray cluster (`ray start --head` + `ray start --address`, this machine):
the same store as a local run, to the byte, and per-shard resumption after a shard fails and after the driver is
killed."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import free_port, run_cli
from ray_services import activated_env, ray_head, ray_node, wait_until

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


ENV = activated_env(TAGF_REPRODUCIBLE="1", RAY_AUTH_MODE="disabled")


def features(index: Path, store: Path, params: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [BIN / "tagf", "features", index, store, "--params", params, *extra]
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=600)


def killed_after_first_shard(index: Path, store: Path, params: Path, address: str) -> None:
    """Start the extraction, and SIGKILL its driver as soon as one shard's part is whole (stopped first, so that it
    cannot assemble the store meanwhile)."""
    argv = [BIN / "tagf", "features", index, store, "--params", params, "--address", address]
    driver = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not list(Path(f"{store}.parts").glob("*/*.sha256")):
        assert driver.poll() is None and time.monotonic() < deadline, "no shard was extracted"
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGSTOP)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)


def store_bytes(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.iterdir())}


def test_a_cluster_extracts_the_local_store_and_resumes_by_shard(tiny_corpus, tmp_path, services):

    # A copy of the corpus, indexed: a shard is made to fail below by corrupting one of its files, and the
    # fixture's corpus is shared with the tests running beside this one.
    root, index = tmp_path / "corpus", tmp_path / "index.parquet"
    shutil.copytree(tiny_corpus["root"], root)
    run_cli("prepare", str(root), str(index))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"features": {"videos_per_shard": 2}}))
    local = features(index, tmp_path / "local", params)
    assert local.returncode == 0, local.stderr[-3000:]

    gcs = free_port()
    head = ray_head(services, tmp_path, gcs, "--include-dashboard", "false")
    address = f"127.0.0.1:{gcs}"
    worker = ray_node(services, tmp_path, "worker", "--address", address)

    def two_nodes() -> bool:
        out = subprocess.run(
            [BIN / "ray", "status", "--address", address],
            capture_output=True,
            text=True,
            env=activated_env(RAY_AUTH_MODE="disabled"),
        )
        return out.returncode == 0 and out.stdout.count("node_") >= 2

    wait_until(two_nodes, "a two-node cluster", proc=worker if head.poll() is None else head)

    # A shard that fails (one video's file is corrupted: its audio cannot be decoded) fails the run after every
    # other shard is done.
    audio = sorted((root / "videos").glob("*"))[-1]
    good = audio.read_bytes()
    audio.write_bytes(b"not a wav file")
    try:
        failed = features(index, tmp_path / "ray", params, "--address", address)
    finally:
        audio.write_bytes(good)
    assert failed.returncode == 4, failed.stderr[-3000:]
    (line,) = [x for x in failed.stderr.splitlines() if x.startswith("tagf features: error:")]
    assert "1 of " in line and "shards failed" in line and audio.stem in line
    assert not (tmp_path / "ray").exists()  # nothing partial where the store goes

    again = features(index, tmp_path / "ray", params, "--address", address)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already extracted" in again.stdout
    assert store_bytes(tmp_path / "ray") == store_bytes(tmp_path / "local")
    assert not (tmp_path / "ray.parts").exists()

    # A killed driver: the next start keeps the shards that were whole.
    killed_after_first_shard(index, tmp_path / "killed", params, address)
    assert not (tmp_path / "killed").exists()
    resumed = features(index, tmp_path / "killed", params, "--address", address)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "already extracted" in resumed.stdout
    assert store_bytes(tmp_path / "killed") == store_bytes(tmp_path / "local")
