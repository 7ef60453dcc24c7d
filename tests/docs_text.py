"""The project's documents as the tests read them: README.md and docs/*.md, their code blocks and command lines."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(language: str, path: Path | None = None) -> list[str]:
    """The ```language blocks of one document, or of all of them."""
    found = []
    for document in [path] if path else DOCUMENTS:
        found += re.findall(rf"```{language}\n(.*?)```", document.read_text(), flags=re.S)
    return found


def command_lines(path: Path | None = None) -> list[list[str]]:
    """Each command of the bash blocks as words: continuation lines joined, comments dropped, `a && b` split."""
    lines = []
    for block in blocks("bash", path):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while "&&" in words:
                cut = words.index("&&")
                lines.append(words[:cut])
                words = words[cut + 1 :]
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # `VAR=value command`: the command
                words = words[1:]
            if words:
                lines.append(words)
    return lines


def programs(program: str) -> list[list[str]]:
    """The arguments of every `program ...` command line of the documents."""
    return [words[1:] for words in command_lines() if words[:1] == [program]]
