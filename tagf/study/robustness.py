"""`tagf robustness`: the protocol's conditions (tagf.study.protocol) for trained model files, side by side, as a
table: one row per (model, perturbation, level), with `frames` scored and, on a synthetic corpus, the effective lag
in seconds. Written as JSON (a list of rows, for `dvc plots`) and CSV, both without the per-video scores.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tagf import storage
from tagf.data.feature_store import read_split
from tagf.evaluation.evaluate import load_for_evaluation
from tagf.score_names import SCORES
from tagf.study.conditions import ProtocolSettings
from tagf.study.protocol import Protocol, degradation_rows, shift_rows

FIELDS = ("model", "perturbation", "level", *SCORES, "frames")
LAG_FIELDS = ("effective_lag_s_mean", "effective_lag_s_min", "effective_lag_s_max")


def robustness_of_files(
    models: dict[str, list[str]], store: str, split_name: str, settings: ProtocolSettings, seed: int = 0
) -> list[dict[str, Any]]:
    """The protocol's rows for model files (name → URLs: one, or one per target) on a split of a feature store."""
    loaded = {name: [load_for_evaluation(url) for url in urls] for name, urls in models.items()}
    split = read_split(store, split_name)
    protocol = Protocol.of_store(store, split_name, split, settings)
    rows = [row for name, models_of in loaded.items() for row in shift_rows(name, models_of, split, protocol)]
    return rows + degradation_rows(loaded, split, protocol, seed)


def write_table(rows: list[dict[str, Any]], json_url: str, csv_url: str | None = None) -> None:
    rows = [{k: v for k, v in row.items() if k != "per_video"} for row in rows]
    storage.write_text(json_url, json.dumps(rows, indent=1, allow_nan=False))
    if csv_url:
        fields = FIELDS + (LAG_FIELDS if rows and LAG_FIELDS[0] in rows[0] else ())
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        storage.write_text(csv_url, text.getvalue())
