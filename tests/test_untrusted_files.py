"""Files from elsewhere run no code and change no score: a planted checkpoint or weights file with a pickle payload
is refused (exit 7, one line) and its payload never runs; a model file with one flipped byte is refused by name."""

import hashlib
import shutil

import pytest
import torch
from conftest import SMALL_TAGF, cli_error, run_cli

from tagf.errors import ModelFileError
from tagf.training.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE


class Payload:
    """A pickle whose loading would create `marker`: what a planted file on shared storage could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker, with_sha256=True):
    """A torch file holding the payload, with a matching sha256 beside it (an attacker can write both)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 3, "model": Payload(marker)}, path)
    if with_sha256:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def test_planted_training_checkpoint_runs_nothing(tiny_corpus, tmp_path):
    """`tagf train` resumes from <output>/checkpoint/state.pt by default: the planted one is refused."""
    marker = tmp_path / "pwned"
    plant(tmp_path / "run" / CHECKPOINT_DIR / CHECKPOINT_FILE, marker)
    proc = run_cli(
        "train",
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path / "run"),
        *SMALL_TAGF,
        check=False,
    )
    assert proc.returncode == ModelFileError.exit_code
    assert "refused" in cli_error(proc) and CHECKPOINT_FILE in cli_error(proc)
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("command", ["import-checkpoint", "features-weights"])
def test_planted_weights_run_nothing(tiny_corpus, tmp_path, command):
    marker = tmp_path / "pwned"
    plant(tmp_path / "weights.pth", marker, with_sha256=False)
    if command == "import-checkpoint":
        args = [
            "import-checkpoint",
            str(tmp_path / "weights.pth"),
            str(tmp_path / "m.pt"),
            "--target",
            "valence",
        ]
        proc = run_cli(*args, "--hop", "200", check=False)
    else:
        args = [
            "features",
            str(tiny_corpus["index"]),
            str(tmp_path / "store"),
        ]
        proc = run_cli(*args, "--visual-weights", str(tmp_path / "weights.pth"), check=False)
    assert proc.returncode == ModelFileError.exit_code, proc.stderr[-2000:]
    assert "refused" in cli_error(proc) and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_model_file_with_a_flipped_byte_is_refused_by_name(trained_tagf, tiny_corpus, tmp_path):
    model = tmp_path / "model.pt"
    shutil.copy(trained_tagf / "model.pt", model)
    shutil.copy(trained_tagf / "model.pt.sha256", tmp_path / "model.pt.sha256")
    args = ["evaluate", "--store", str(tiny_corpus["store"]), "--split", "test"]
    run_cli(*args, "--model", str(model))  # intact: scores
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    proc = run_cli(*args, "--model", str(model), check=False)
    assert proc.returncode == ModelFileError.exit_code
    assert cli_error(proc).startswith(f"{model}: sha256 ") and "changed after it was written" in cli_error(
        proc
    )
    (tmp_path / "model.pt.sha256").unlink()
    proc = run_cli(*args, "--model", str(model), check=False)
    assert proc.returncode == ModelFileError.exit_code and "cannot be verified" in cli_error(proc)
