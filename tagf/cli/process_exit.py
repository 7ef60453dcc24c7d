"""How the `tagf` process ends: with its command's exit status, never with a native library's teardown.

A command that has finished (its files written, its one-line error printed) could still die at interpreter teardown:
a native thread pool left running (Parquet's, apache/arrow#34314) is destroyed while joinable, and libstdc++ aborts
the process ("terminate called without an active exception", exit -6), so that a right answer reads as a crash. Seen
here on `tagf features` refusing an empty index, about once in a few hundred runs. Only the teardown is skipped:
Python's exit handlers run (MLflow, Ray, logging, temporary directories) and threads that are not daemons are joined,
as at a normal exit; then the process exits with the status, without running C-level exit handlers.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
from typing import NoReturn


def status_of(exit: SystemExit) -> int:
    """The status Python itself gives a SystemExit: None → 0, a number → it, anything else printed → 1."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def end_process(status: int) -> NoReturn:
    # What CPython's finalisation does before its teardown, in its order (private, as nothing public does it).
    threading._shutdown()  # the main thread ends; threads that are not daemons are joined
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: the process was started with it closed
                stream.flush()
        except (OSError, ValueError):
            # Output lost (a closed pipe, a full disk): Python exits 120 where it would have exited 0.
            status = 120 if stream is sys.stdout and status == 0 else status
    ctypes.CDLL(None).fflush(None)  # what native code wrote through C stdio, which os._exit would drop
    os._exit(status)
