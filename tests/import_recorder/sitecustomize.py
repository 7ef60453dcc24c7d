"""On PYTHONPATH in the pipeline test: every `tagf` process writes the files of the modules it imported to
$TAGF_IMPORT_LOG/<command>.json at exit, so the test can check each DVC stage depends on all of them."""

import atexit
import json
import os
import sys


def _record() -> None:
    log = os.environ.get("TAGF_IMPORT_LOG")
    if not log or os.path.basename(sys.argv[0]) != "tagf" or len(sys.argv) < 2:
        return
    files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
    with open(os.path.join(log, f"{sys.argv[1]}.json"), "w") as f:
        json.dump({"argv": sys.argv[1:], "files": files}, f)


atexit.register(_record)
