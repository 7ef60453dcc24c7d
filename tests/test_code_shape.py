"""The code reads as a short sequence of named steps: no function of tagf/ or orchestration/ is longer than a screen
(60 lines) unless its docstring says why (`Long because ...`)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60


def long_functions(root: Path) -> list[str]:
    found = []
    for package in ("tagf", "orchestration"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT and "Long because" not in (ast.get_docstring(node) or ""):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_a_screen_without_a_reason():
    assert long_functions(ROOT) == []


def test_the_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "tagf").mkdir()
    (tmp_path / "orchestration").mkdir()
    (tmp_path / "tagf" / "long.py").write_text(
        f'def f():\n{body}\n\n\ndef g():\n    """Long because x."""\n{body}\n'
    )
    assert long_functions(tmp_path) == [f"tagf/long.py:1 f ({LIMIT + 1} lines)"]
