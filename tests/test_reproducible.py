"""The `reproducible` switch decides the kernels: on, a training run gives the same weights under a hostile
environment (generic kernels, another thread count) as under a plain one; off, that environment gives other
weights. (Bit identity on another machine type is what this stands for; benchmarks/fresh_clone_repro.py compares a
fresh clone's results with the committed ones on the machine it runs on.)"""

import hashlib
import os
import subprocess

import pytest
from conftest import SMALL_TAGF, TAGF

from tagf.models import load_model

HOSTILE = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "2",
}


def weights(store, run, params, extra_env) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **extra_env}
    env.pop("TAGF_REPRODUCIBLE", None)
    subprocess.run(
        [
            *TAGF,
            "train",
            "--store",
            str(store),
            "--output",
            str(run),
            "--params",
            str(params),
            *SMALL_TAGF,
            "--set",
            "train.epochs=1",
            "--restart",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    model, extra = load_model(str(run / "model.pt"))
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()
    return digest, extra["environment"]


@pytest.mark.slow
def test_the_switch_decides_the_kernels(tiny_corpus, tmp_path):
    on, off = tmp_path / "on.yaml", tmp_path / "off.yaml"
    on.write_text("reproducible: true\n")
    off.write_text("reproducible: false\n")
    store = tiny_corpus["store"]
    plain, recorded = weights(store, tmp_path / "plain", on, {})
    assert (
        recorded["reproducible"] == "true"
        and recorded["cpu_capability"] == "AVX2"
        and recorded["threads"] == "1"
    )
    assert recorded["cpu_model"]
    hostile, _ = weights(store, tmp_path / "hostile", on, HOSTILE)
    assert hostile == plain  # the switch overrides the environment's kernels and threads
    unpinned, recorded = weights(store, tmp_path / "unpinned", off, HOSTILE)
    assert recorded["reproducible"] == "false" and recorded["cpu_capability"] == "DEFAULT"
    assert unpinned != plain  # without it, the environment's kernels give other weights
