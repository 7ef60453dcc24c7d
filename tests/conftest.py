import os
import subprocess
import sys
from pathlib import Path

import pytest

# The authors-style reference model lives beside the tests (it is test material, not part of the package).
sys.path.insert(0, str(Path(__file__).parent))

TAGF = [sys.executable, "-m", "tagf"]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `tagf` command line in a subprocess."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([*TAGF, *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"tagf {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> dict[str, Path]:
    """The tiny synthetic corpus, its frame index and its feature store, made once through the CLI."""
    base = tmp_path_factory.mktemp("tiny")
    paths = {"root": base / "corpus", "index": base / "index.parquet", "store": base / "features"}
    run_cli("synth", str(paths["root"]), "--preset", "tiny", "--seed", "0")
    run_cli("prepare", str(paths["root"]), str(paths["index"]))
    run_cli("features", str(paths["index"]), str(paths["store"]))
    return paths
