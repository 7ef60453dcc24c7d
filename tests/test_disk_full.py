"""A full disk, for real: a 64 KB tmpfs mounted in a mount namespace of the test's own (`unshare --mount`, as root,
as on CI). Writing a feature store there fails with one line naming the store and the problem, exit 5, and leaves
nothing behind."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import cli_error


def test_a_full_disk_names_the_path_and_leaves_nothing(tiny_corpus, tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare (a tmpfs of its own), as on CI")
    target = tmp_path / "small-disk"
    target.mkdir()
    store = target / "features"
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {target} && {sys.executable} -m tagf features {tiny_corpus['index']} "
        f"{store}; code=$?; ls -A {target}; exit $code"
    )
    proc = subprocess.run(["unshare", "--mount", "bash", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 5, proc.stderr[-2000:]
    assert cli_error(proc) == f"{store}: No space left on device (while writing it; nothing was left there)"
    assert proc.stdout.strip() == ""  # the tmpfs holds nothing: no partial store, no temporary sibling
