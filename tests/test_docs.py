"""The README's and docs/' code as written: the Python example runs, every command line of every bash block is run
or parsed by a test (a renamed flag breaks a test, not a reader), and every script and document they name exists.

The command blocks that start services run verbatim in their own tests: the two commands in CI itself, the
pipeline in test_pipeline.py, the Ray cluster and MLflow flows (docs/cluster.md, docs/mlflow.md) in test_flows.py.
The Kubernetes lines need a cluster and a registry; test_k8s.py renders and validates what they apply."""

import re

import pytest
import torch
from docs_text import DOCUMENTS, ROOT, blocks, command_lines, programs

from reference.authors import LFAN
from tagf.cli import build_parser

# Lines run verbatim by another test (test_flows.py), or that need a Kubernetes cluster, a registry or the
# internet (their manifests are rendered and validated by test_k8s.py): not run here.
RUN_ELSEWHERE = {"ray", "export"}
NEEDS_A_CLUSTER = {"kubectl", "helm", "docker", "cp"}


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


@pytest.mark.parametrize("words", programs("tagf"), ids=lambda words: " ".join(words[:2]))
def test_tagf_command_parses(words):
    build_parser(words).parse_args(words)  # exits 2 on an unknown command or flag


@pytest.mark.parametrize("words", programs("dvc"), ids=lambda words: " ".join(words[:2]))
def test_dvc_command_parses(words):
    from dvc.cli import parse_args

    assert parse_args(words).func is not None  # DVC's own parser: exits 2 on an unknown command or flag


@pytest.mark.parametrize("words", programs("mlflow"), ids=lambda words: " ".join(words[:2]))
def test_mlflow_command_parses(words):
    import click
    from mlflow.cli import cli

    command, args = cli, list(words)
    while isinstance(
        command, click.Group
    ):  # down to the subcommand, then parse its options without running it
        name, args = args[0], args[1:]
        command = command.get_command(click.Context(command), name)
        assert command is not None, f"mlflow has no command {name!r}"
    command.make_context(words[-1], args)


def test_every_command_line_is_run_or_parsed_by_a_test():
    makefile = (ROOT / "Makefile").read_text()
    for words in command_lines():
        program = words[0]
        if program == "make":
            assert all(re.search(rf"^{target}:", makefile, re.M) for target in words[1:]), words
        elif program.endswith("python"):
            assert (ROOT / words[1]).exists(), words  # benchmarks: each runs as a smoke test
        else:
            assert program in {"tagf", "dvc", "mlflow", *RUN_ELSEWHERE, *NEEDS_A_CLUSTER}, (
                f"no test runs {words}"
            )


def test_the_documents_have_commands_to_check():
    assert len(programs("tagf")) >= 10 and programs("dvc")


def test_every_script_and_document_they_name_exists():
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    named = set(re.findall(r"\b((?:benchmarks|tools)/[\w/]+\.py)", text))
    assert named and [name for name in named if not (ROOT / name).exists()] == []
    for path in DOCUMENTS:
        for link in re.findall(r"\]\(((?:\.\./|docs/)?[\w./-]+\.(?:md|png))\)", path.read_text()):
            assert (path.parent / link).exists(), f"{path.name}: {link}"


def test_the_readme_is_a_map():
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024
