"""A finished `tagf` command exits with its own status, whatever a native library does at interpreter teardown
(tagf.cli.process_exit), and still runs what a normal exit runs: Python's exit handlers, threads that are not
daemons. Real processes: the installed `tagf` executable and `python -m tagf`."""

from __future__ import annotations

import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BIN, TAGF

from tagf.errors import DataError

# Loaded by every Python of the test's processes (PYTHONPATH): registers, at the C level, an exit handler that
# aborts, as a still-joinable native thread's destructor does at teardown (apache/arrow#34314); and what a normal
# exit must still do: a Python exit handler, and a thread that is not a daemon finishing its work.
SITECUSTOMIZE = """
import atexit, ctypes, os, threading, time

libc = ctypes.CDLL(None)
libc.on_exit(libc.abort, None)
out = os.environ["EXIT_TEST_DIR"]
atexit.register(lambda: open(os.path.join(out, "atexit"), "w").close())

def late():
    threading.main_thread().join()  # the command has returned: a normal exit waits for what follows
    time.sleep(0.5)
    open(os.path.join(out, "thread"), "w").close()

threading.Thread(target=late).start()
"""


def with_sitecustomize(tmp_path, code: str, env) -> dict:
    """`env` with a folder on PYTHONPATH whose sitecustomize.py is `code`, loaded by every Python started with it."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(code)
    return {**env, "PYTHONPATH": str(tmp_path / "site"), "EXIT_TEST_DIR": str(tmp_path)}


@pytest.mark.parametrize("command", [[str(BIN / "tagf")], TAGF], ids=["tagf", "python -m tagf"])
def test_a_refusal_keeps_its_status_through_a_native_abort_at_teardown(command, tmp_path):
    env = with_sitecustomize(tmp_path, SITECUSTOMIZE, os.environ)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"video": pa.array([], pa.string())}), empty)
    proc = subprocess.run(
        [*command, "features", str(empty), str(tmp_path / "store")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == DataError.exit_code, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"tagf features: error: {empty}")
    assert (tmp_path / "atexit").exists() and (tmp_path / "thread").exists()


def test_a_usage_error_and_help_keep_their_status(tmp_path):
    env = with_sitecustomize(tmp_path, SITECUSTOMIZE, os.environ)
    usage = subprocess.run([*TAGF, "features"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "usage: tagf features" in usage.stderr
    helped = subprocess.run([*TAGF, "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "usage: tagf" in helped.stdout


def test_output_the_process_could_not_write_or_wrote_natively(tmp_path):
    """As at a normal exit: stdout that cannot be flushed makes a success exit 120; a process started without
    stdout keeps its status; what native code wrote through C stdio is flushed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # Python's default buffering
    with open("/dev/full", "w") as full:  # every write fails: no space left on device
        assert subprocess.run([*TAGF, "--help"], stdout=full, env=env).returncode == 120
    closed = subprocess.run(
        [*TAGF, "features", str(tmp_path / "none.parquet"), str(tmp_path / "store")],
        preexec_fn=lambda: os.close(1),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert closed.returncode == 5 and "tagf features: error:" in closed.stderr  # a missing file: StorageError
    printing = "import ctypes\nctypes.CDLL(None).printf(b'written by C stdio\\n')\n"
    native = subprocess.run(
        [*TAGF, "--help"], capture_output=True, text=True, env=with_sitecustomize(tmp_path, printing, env)
    )
    assert native.returncode == 0 and "written by C stdio" in native.stdout
