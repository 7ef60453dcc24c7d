"""torch's thread count (tagf.runtime.use_threads): OMP_NUM_THREADS is honoured where the reproducible switch does not
fix the count, and a value that is no thread count is one line naming it."""

import os
import subprocess

import torch
from conftest import TAGF, cli_error

from tagf import runtime


def test_omp_num_threads_sets_the_count_unless_the_run_is_reproducible(monkeypatch):
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    monkeypatch.delenv("TAGF_REPRODUCIBLE", raising=False)
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert runtime.use_threads() == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2,1")  # OpenMP's nested form: its first level
        assert runtime.use_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert runtime.use_threads() == runtime.cpus_available()
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        monkeypatch.setenv("TAGF_REPRODUCIBLE", "1")
        assert runtime.use_threads() == 1  # the switch's one thread, the same on every machine
        assert runtime.use_threads(4) == 4  # a trial's CPUs, given
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def test_a_bad_omp_num_threads_is_one_line_naming_it(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "many", "PYTHONWARNINGS": "ignore"}
    env.pop("TAGF_REPRODUCIBLE", None)
    argv = [*TAGF, "train", "--store", str(tmp_path / "store"), "--output", str(tmp_path / "run")]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert cli_error(proc) == "OMP_NUM_THREADS: 'many' is not a thread count (a positive integer)"
    assert not (tmp_path / "run").exists()
