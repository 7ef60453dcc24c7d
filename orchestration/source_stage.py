"""The `source` DVC stage: the description of the corpus a params.yaml asks for. DVC runs it at every `dvc repro`,
so it imports no more than it needs (not torch, MLflow or matplotlib, which the other stages load)."""

from __future__ import annotations

import json
from typing import Any

from orchestration.params import Params
from tagf import storage
from tagf.data.corpus_source import fingerprint
from tagf.errors import StorageError


def source(params: Params, output: str, where: str = "params.yaml") -> dict[str, Any]:
    """What the corpus will be made from, as JSON that changes exactly when the corpus would: the synthetic preset
    and seed, or the listing fingerprint of the Aff-Wild2 tree (DVC reruns this stage every time, since the tree
    can change under the same params; the data stages rerun only when the file it writes changes)."""
    data = params.data
    if data.source == "synthetic":
        described = {
            "source": "synthetic",
            "preset": data.preset,
            "seed": data.seed,
            "max_lag_s": data.max_lag_s,
        }
    else:
        try:
            described = fingerprint(data.root)
        except StorageError as err:
            raise StorageError(f"{where}: data.root: {err}") from None
    storage.write_text(output, json.dumps(described, indent=1, allow_nan=False))
    return described
