"""The README's code as written: its Python example runs, every `tagf` command line in it parses with the real
parser (so a renamed flag breaks this test, not a reader), and every script it names exists.

The command blocks that start services run as written in their own tests: the two commands in CI itself, the
pipeline in test_pipeline.py, the Ray cluster and MLflow flows in test_flows.py."""

import re
import shlex
from pathlib import Path

import pytest
import torch

from tagf.cli import build_parser
from tagf.reference.authors import LFAN

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def command_lines(program: str) -> list[str]:
    """Each `program ...` command of the bash blocks, continuation lines joined and comments dropped."""
    lines = []
    for block in blocks("bash"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == [program]:
                lines.append(words[1:])
    return lines


def test_the_python_example_runs(tmp_path, monkeypatch):
    (python,) = blocks("python")
    torch.manual_seed(0)
    torch.save({"state_dict": LFAN(window=300, outputs=1).state_dict()}, tmp_path / "their_checkpoint.pth")
    monkeypatch.chdir(tmp_path)
    scope = {"torch": torch, "visual": torch.randn(2, 40, 512), "audio": torch.randn(2, 40, 128)}
    scope["mask"] = torch.ones(2, 40, dtype=torch.bool)
    exec(python, scope)
    assert scope["out"].prediction.shape == (2, 40, 2)
    assert scope["authors"].cfg.window == 300


@pytest.mark.parametrize("words", command_lines("tagf"), ids=lambda words: " ".join(words[:2]))
def test_tagf_command_parses(words):
    build_parser().parse_args(words)  # exits 2 on an unknown command or flag


def test_the_readme_has_tagf_commands_to_check():
    assert len(command_lines("tagf")) >= 5


def test_every_script_it_names_exists():
    root = Path(__file__).resolve().parents[1]
    named = set(re.findall(r"\b((?:benchmarks|tools)/[\w/]+\.py)", README))
    assert named and [name for name in named if not (root / name).exists()] == []
