"""The per-video scores of a study (`per_video.parquet`) and the CCC of any union of its cells.

One row per run × condition × video × frame subset (tagf.study.protocol):

    variant, augment_shift_s, key_mode, seed, corpus_seed   the run (a trial of the ablation's grid)
    perturbation, level                                     the condition: shift_s (seconds; 0 = plain),
                                                            audio_noise / visual_noise (SNR dB),
                                                            audio_dropout / visual_dropout (fraction)
    video                                                   the video (of corpus `corpus_seed`)
    subset                                                  all, lag[a,b) (effective |lag| in seconds), outage, no_face
    n                                                       frames in the cell
    sum_p_<target>, sum_y_<target>, sum_pp_<target>,        Σŷ, Σy, Σŷ², Σy², Σŷy of each target
    sum_yy_<target>, sum_py_<target>
    alpha_visual, alpha_audio                               Σα per recursion step of each gate (null: no gate)

Its schema metadata `tagf.study` holds what produced it: the reference, variants, set-ups, tuning, report split,
the protocol's settings, the primary endpoint and margin (JSON).

An **endpoint** picks cells and pools them per run and video: a video's CCC over the frames of every picked cell
(Lin's CCC with population moments, as tagf.metrics.ccc), then the mean over the targets. A video with fewer than
`min_frames` frames in the pool has no value there (a CCC of a handful of frames is noise).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage
from tagf.errors import DataError
from tagf.score_names import MEAN, TARGETS, ccc_key
from tagf.study.conditions import SHIFT

RUN = ("variant", "augment_shift_s", "key_mode", "seed", "corpus_seed")
CONDITION = ("augment_shift_s", "key_mode")  # besides the variant, what makes a row of a table
METADATA = b"tagf.study"
SUMS = ("sum_p", "sum_y", "sum_pp", "sum_yy", "sum_py")


@dataclass(frozen=True)
class Endpoint:
    """Which cells a measure pools: a perturbation, a level (None: every level) and subsets."""

    name: str
    perturbation: str
    level: float | None
    subsets: tuple[str, ...]


def lag_bounds(subset: str) -> tuple[float, float] | None:
    """(low, high) seconds of a `lag[a,b)` subset; None for any other subset."""
    found = re.fullmatch(r"lag\[([\d.]+),([\d.]+|inf)\)", subset)
    return None if found is None else (float(found[1]), float(found[2]))


def endpoint(name: str, lag_subsets: list[str]) -> Endpoint:
    """An endpoint by name: `clean`, `lag>=X` / `lag<X` (every shift, the lag bins beyond / below X seconds; X an
    edge of the bins), a lag bin `lag[a,b)`, `shift_s=+0.5`, `audio_noise=10`, `outage`, `no_face`."""
    if name == "clean":
        return Endpoint(name, SHIFT, 0.0, ("all",))
    if name in ("outage", "no_face"):
        return Endpoint(name, SHIFT, 0.0, (name,))
    if name in lag_subsets:
        return Endpoint(name, SHIFT, None, (name,))
    threshold = re.fullmatch(r"lag(>=|<)([\d.]+)", name)
    if threshold:
        cut, bounds = float(threshold[2]), {s: lag_bounds(s) for s in lag_subsets}
        picked = [
            s for s, (low, high) in bounds.items() if (low >= cut if threshold[1] == ">=" else high <= cut)
        ]
        edges = sorted({edge for pair in bounds.values() for edge in pair})
        if not picked or cut not in edges:
            raise DataError(f"endpoint {name!r}: {cut:g} s is not an edge of the lag bins {edges}")
        return Endpoint(name, SHIFT, None, tuple(picked))
    condition = re.fullmatch(r"(\w+)=([+-]?[\d.]+)", name)
    if condition:
        return Endpoint(name, condition[1], float(condition[2]), ("all",))
    raise DataError(
        f"unknown endpoint {name!r}: clean, lag>=X, lag<X, a lag bin, shift_s=S, outage or no_face"
    )


def read_cells(url: str) -> tuple[pd.DataFrame, dict]:
    """The rows and the metadata of a per_video.parquet, checked for the columns every analysis needs."""
    try:
        table = pq.read_table(pa.BufferReader(storage.read_bytes(url)), use_threads=storage.ARROW_THREADS)
    except FileNotFoundError:
        raise DataError(f"{url}: no such per-video scores file") from None
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{url}: not a readable Parquet file ({type(err).__name__})") from None
    meta = json.loads((table.schema.metadata or {}).get(METADATA, b"{}"))
    needed = {*RUN, "perturbation", "level", "video", "subset", "n"}
    missing = sorted(needed - set(table.column_names))
    if missing or not meta:
        raise DataError(
            f"{url}: not the per-video scores of an ablation (missing {missing or 'its metadata'})"
        )
    frame = table.to_pandas(use_threads=storage.ARROW_THREADS)
    _check_numbers(url, frame)
    return frame, meta


def run_name(row) -> str:
    """A run and cell as a reader finds it: `tagf seed=0 corpus_seed=3 (augment ±0 s, key length_agnostic)`."""
    return (
        f"{row['variant']} seed={row['seed']} corpus_seed={row['corpus_seed']} "
        f"(augment ±{row['augment_shift_s']:g} s, key {row['key_mode']})"
    )


def _check_numbers(url: str, frame: pd.DataFrame) -> None:
    """Every count a positive whole number and every sum finite, or a DataError naming the first bad cell: a NaN
    summed as 0 would move a video's CCC without a word."""
    targets = targets_of(frame)
    columns = ["n", *(f"{s}_{t}" for t in targets for s in SUMS)]
    numbers = frame[columns].to_numpy(np.float64)
    bad = ~np.isfinite(numbers)
    bad[:, 0] |= ~bad[:, 0] & ((numbers[:, 0] < 1) | (numbers[:, 0] != np.round(numbers[:, 0])))
    for name in frame.columns:
        if name.startswith(("alpha_", "diag_")):  # per-row lists: Σα of each gate, Σ of each diagnostic
            lists = frame[name].dropna()
            finite = np.array([np.isfinite(np.asarray(v, np.float64)).all() for v in lists], bool)
            if not finite.all():
                row = frame.loc[lists.index[np.flatnonzero(~finite)[0]]]
                raise DataError(f"{url}: {_where(row)}: {name} is not finite")
    if bad.any():
        r, c = np.argwhere(bad)[0]
        row, value = frame.iloc[r], numbers[r, c]
        what = "not a positive whole number" if c == 0 and np.isfinite(value) else f"{value}"
        raise DataError(f"{url}: {_where(row)}: {columns[c]} is {what}")


def _where(row) -> str:
    return f"run {run_name(row)}, video {row['video']}, {row['perturbation']}={row['level']:g}, subset {row['subset']}"


def write_cells(url: str, frame: pd.DataFrame, meta: dict) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {METADATA: json.dumps(meta, sort_keys=True, allow_nan=False).encode()}
    )
    with storage.atomic_path(url) as (fs, tmp), fs.open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")


def ccc_of_sums(n, sum_p, sum_y, sum_pp, sum_yy, sum_py) -> np.ndarray:
    """Lin's CCC from sufficient statistics, elementwise (population moments; 0 where the denominator is 0)."""
    n = np.asarray(n, np.float64)
    mean_p, mean_y = sum_p / n, sum_y / n
    var_p, var_y = sum_pp / n - mean_p**2, sum_yy / n - mean_y**2
    cov = sum_py / n - mean_p * mean_y
    denominator = var_p + var_y + (mean_p - mean_y) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * cov / denominator, 0.0)


def _check_moments(pooled: pd.DataFrame, picked: Endpoint, target: str, sum_p, sum_y, sum_pp, sum_yy, sum_py):
    """Sums that no frames can have (a negative variance), or a CCC with no variance at all to define it, are a
    DataError naming the run and video: never a CCC of 0."""
    n = pooled["n"].to_numpy(np.float64)
    var_p, var_y = sum_pp / n - (sum_p / n) ** 2, sum_yy / n - (sum_y / n) ** 2
    scale = np.maximum(1.0, np.maximum(sum_pp, sum_yy) / n)
    impossible = (var_p < -1e-9 * scale) | (var_y < -1e-9 * scale)
    undefined = (var_p <= 1e-12 * scale) & (var_y <= 1e-12 * scale) & np.isclose(sum_p, sum_y)
    for bad, why in (
        (impossible, "sums no frames can have (a negative variance)"),
        (undefined, "no CCC: neither the predictions nor the labels vary"),
    ):
        if bad.any():
            row = pooled.iloc[int(np.flatnonzero(bad)[0])]
            raise DataError(
                f"endpoint {picked.name!r}: run {run_name(row)}, video {row['video']}, {target}: {why}"
            )


def targets_of(frame: pd.DataFrame) -> list[str]:
    return [t for t in TARGETS if f"sum_p_{t}" in frame and frame[f"sum_p_{t}"].notna().any()]


def values(frame: pd.DataFrame, picked: Endpoint, min_frames: int) -> pd.DataFrame:
    """Per run and video, the endpoint's value (columns RUN + video + value): each target's CCC over the pooled
    cells, averaged over the targets; videos with fewer than `min_frames` pooled frames left out."""
    chosen = frame[(frame["perturbation"] == picked.perturbation) & frame["subset"].isin(picked.subsets)]
    if picked.level is not None:
        chosen = chosen[np.isclose(chosen["level"], picked.level)]
    targets = targets_of(frame)
    columns = ["n", *(f"{s}_{t}" for t in targets for s in SUMS)]
    pooled = chosen.groupby([*RUN, "video"], sort=True, dropna=False)[columns].sum().reset_index()
    pooled = pooled[pooled["n"] >= min_frames]
    if pooled.empty:
        most = int(chosen.groupby([*RUN, "video"])["n"].sum().max()) if len(chosen) else 0
        raise DataError(
            f"endpoint {picked.name!r}: no video has {min_frames} frames or more there (min_frames; the most: "
            f"{most}), so it has no value to compare"
        )
    per_target = []
    for t in targets:
        sums = [pooled[f"{s}_{t}"].to_numpy() for s in SUMS]
        _check_moments(pooled, picked, t, *sums)
        per_target.append(ccc_of_sums(pooled["n"], *sums))
    out = pooled[[*RUN, "video"]].copy()
    out["value"] = np.mean(per_target, axis=0) if per_target else np.nan
    return out


def pooled(cells: pd.DataFrame) -> dict[str, float | int]:
    """The CCC of all of `cells`' frames pooled (per target, their mean), as ABAW scores a split; the frames."""
    targets = targets_of(cells)
    total = cells[["n", *(f"{s}_{t}" for t in targets for s in SUMS)]].sum()
    scores = {ccc_key(t): float(ccc_of_sums(total["n"], *(total[f"{s}_{t}"] for s in SUMS))) for t in targets}
    return {**scores, MEAN: float(np.mean(list(scores.values()))), "frames": int(total["n"])}


def plain(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of the plain condition, every scored frame."""
    return cells[(cells["perturbation"] == SHIFT) & (cells["level"] == 0) & (cells["subset"] == "all")]


def gate_values(frame: pd.DataFrame, picked: Endpoint, gate: str, min_frames: int) -> pd.DataFrame:
    """Per run and video, the mean α of each recursion step of `gate` over the endpoint's cells (column `value`:
    an array per row); gated runs only."""
    column = f"alpha_{gate}"
    chosen = frame[(frame["perturbation"] == picked.perturbation) & frame["subset"].isin(picked.subsets)]
    if picked.level is not None:
        chosen = chosen[np.isclose(chosen["level"], picked.level)]
    if column not in chosen:
        return pd.DataFrame(columns=[*RUN, "video", "value"])
    chosen = chosen[chosen[column].notna()]
    rows = []
    for key, group in chosen.groupby([*RUN, "video"], sort=True, dropna=False):
        n = int(group["n"].sum())
        if n >= min_frames:
            rows.append(
                {
                    **dict(zip([*RUN, "video"], key)),
                    "value": np.sum(np.stack(group[column].to_numpy()), 0) / n,
                }
            )
    return pd.DataFrame(rows, columns=[*RUN, "video", "value"])
