"""A run's `git_commit` says whether the code that ran was committed: `-dirty` for a change to it, not for the files
the pipeline itself rewrites as it runs (dvc.lock, data/source.json), or every `make run` would register a
`-dirty` model."""

import subprocess

from tagf.provenance import git_commit


def repo(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "data").mkdir()
    for name in ("dvc.lock", "data/source.json", "code.py"):
        (tmp_path / name).write_text("first\n")
    git("add", ".")
    git("commit", "-qm", "first")
    return tmp_path


def test_the_pipelines_own_writes_do_not_make_the_commit_dirty(tmp_path):
    root = repo(tmp_path)
    clean = git_commit(root)
    assert clean and not clean.endswith("-dirty")
    (root / "dvc.lock").write_text("rewritten by dvc repro\n")
    (root / "data" / "source.json").write_text("the corpus fingerprint again\n")
    assert git_commit(root) == clean
    (root / "code.py").write_text("changed\n")
    assert git_commit(root) == f"{clean}-dirty"
    assert git_commit(root / "data") == f"{clean}-dirty"  # from anywhere inside the repository
