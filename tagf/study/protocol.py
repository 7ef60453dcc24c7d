"""The misalignment protocol: what every trained model of a study is scored on, the same way for every variant.

A trained model (or one model per target) is scored on the report split, every condition on **the same frames**:
the labelled frames whose audio stays inside their video under every audio shift of the protocol (a video loses
round(s·fps) frames at each end for the largest shift s), so that a model that never hears audio has a drop of
exactly 0. The conditions:
- plain (`shift_s` 0) and under audio shifts of ±s seconds (`shift_s`; each video shifts by round(s·fps) of its own
  frames);
- under modality noise and dropout (tagf.study.perturbations), every model seeing the same draws.

Within each condition the frames are grouped into subsets:
- `all`: every scored frame;
- `lag[a,b)`: frames whose effective audio lag |built-in local lag + applied shift| is in [a, b) seconds (a synthetic
  corpus's ground truth: its per-frame local lag from the masks, else its per-video lag), under each shift;
- `outage` (ground-truth audio outages) and `no_face` (frames without a face), in the plain condition.

What is kept is not a score but the **sufficient statistics** of a CCC, per run × condition × video × subset and
target: n, Σŷ, Σy, Σŷ², Σy², Σŷy (float64), and for gated models Σα per recursion step of each gate. Any CCC over
any union of cells (a video's frames at |lag| ≥ 1 s under every shift, pooled over videos, ...) follows from them
exactly (tagf.study.cells), so a study can be re-analysed without retraining (`tagf compare`).

`tagf robustness` and an ablation's trials run this same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tagf.data.feature_store import SplitArrays
from tagf.data.synth.ground_truth import audio_lags, has_masks, mask_columns, synthetic_root
from tagf.data.windows import audio_inside_video
from tagf.errors import DataError
from tagf.evaluation.evaluate import LoadedModel, combined_predictions
from tagf.evaluation.inference import predict_frames
from tagf.score_names import TARGETS
from tagf.study.conditions import SHIFT, ProtocolSettings, lag_bin_labels
from tagf.study.perturbations import add_noise, drop_frames

STATS = ("n", "sum_p", "sum_y", "sum_pp", "sum_yy", "sum_py")
GATES = ("visual", "audio")


@dataclass(frozen=True)
class Protocol:
    """How one corpus's report split is scored: the conditions, and what the corpus's ground truth says of each
    report row."""

    split: str  # its name, for messages
    settings: ProtocolSettings
    local_lag_s: np.ndarray | None = None  # (N,) each row's built-in audio lag (s); None: no ground truth
    outage: np.ndarray | None = None  # (N,) bool: audio outage (ground-truth masks); None: no masks

    @classmethod
    def of_store(cls, store: str, split_name: str, split: SplitArrays, settings: ProtocolSettings) -> Protocol:
        """The protocol of a feature store's split, with the corpus's ground truth where it has one: per-frame lags
        and outages from its masks, else per-video lags, else none (Aff-Wild2)."""
        root = synthetic_root(store)
        if root is not None and has_masks(root):
            masks = mask_columns(root, split)
            return cls(split_name, settings, masks["local_lag_s"], masks["audio_outage"])
        lags = audio_lags(store, split)
        if lags is None:
            return cls(split_name, settings)
        return cls(split_name, settings, np.repeat(lags.lag_s, np.diff(split.offsets)))


def scored_frames(data: SplitArrays, settings: ProtocolSettings, split_name: str) -> np.ndarray:
    """(N,) bool: the labelled frames whose audio stays inside their video under every shift of the protocol."""
    if not data.label_valid.any():
        raise DataError(
            f"split {split_name!r} has no labelled frame to score, so it has no CCC "
            "(Aff-Wild2's test split is unlabelled: use `tagf predict` there)"
        )
    fps = np.array([data.fps[video] for video in data.videos])  # (V,)
    lengths = np.diff(data.offsets)
    keep = data.label_valid.copy()
    for shift_s in settings.signed_shifts_s():
        keep &= audio_inside_video(data, np.repeat(np.rint(shift_s * fps).astype(int), lengths))
    if not keep.any():
        largest = max(settings.shifts_s, default=0)
        raise DataError(
            f"audio shifts up to ±{largest:g} s: no labelled frame of split {split_name!r} keeps its audio inside its "
            "video under all of them, so there is nothing to score; use smaller shifts"
        )
    return keep


def _predict(loaded: list[LoadedModel], data: SplitArrays, shift: int) -> tuple[np.ndarray, list[str], dict | None]:
    """(values (N, targets), targets, {gate: α (N, M)} of a gated single model or None) under one audio shift."""
    if len(loaded) == 1 and loaded[0].model.gated:
        model = loaded[0]
        predicted = predict_frames(model.model, data, model.window, model.hop, audio_shift=shift)
        gates = {
            "visual": predicted.visual_gate,
            "audio": predicted.audio_gate,
        }
        # One model per target inside one file: (N, targets, M), averaged over the targets.
        gates = {name: alpha.mean(axis=1) if alpha.ndim == 3 else alpha for name, alpha in gates.items()}
        return predicted.values, list(model.targets), gates
    values, targets = combined_predictions(loaded, data, audio_shift=shift)
    return values, targets, None


def _shifted(loaded: list[LoadedModel], data: SplitArrays, shift_s: float):
    """`_predict` with each video's audio shifted by round(shift_s·fps) of its frames (videos of one fps at once)."""
    fps = np.array([data.fps[video] for video in data.videos])
    shift = np.rint(shift_s * fps).astype(int)  # (V,) frames
    values, gates, targets = None, None, None
    for frames in np.unique(shift):
        group = np.flatnonzero(shift == frames)
        rows = np.concatenate([np.arange(data.offsets[v], data.offsets[v + 1]) for v in group])
        part, part_targets, part_gates = _predict(loaded, data.select([data.videos[v] for v in group]), int(frames))
        if values is None:
            values = np.zeros((len(data.frames), part.shape[1]))
            gates = None if part_gates is None else {k: np.zeros((len(data.frames), a.shape[1])) for k, a in part_gates.items()}
            targets = part_targets
        values[rows] = part
        if gates is not None:
            for name in gates:
                gates[name][rows] = part_gates[name]
    return values, targets, gates, np.repeat(shift, np.diff(data.offsets))


def _subsets(protocol: Protocol, data: SplitArrays, shift_frames: np.ndarray, plain: bool) -> dict[str, np.ndarray]:
    """{subset: (N,) bool} of one condition (before intersecting with the scored frames)."""
    subsets = {"all": np.ones(len(data.frames), bool)}
    if protocol.local_lag_s is not None:
        fps = np.repeat([data.fps[v] for v in data.videos], np.diff(data.offsets))
        effective = np.abs(protocol.local_lag_s + shift_frames / fps)  # (N,) seconds
        edges = [*protocol.settings.lag_bins_s, np.inf]
        for label, low, high in zip(lag_bin_labels(protocol.settings.lag_bins_s), edges[:-1], edges[1:]):
            subsets[label] = (effective >= low) & (effective < high)
    if plain:
        if protocol.outage is not None:
            subsets["outage"] = protocol.outage
        subsets["no_face"] = ~data.visual_valid
    return subsets


def _cells(values, targets, gates, data: SplitArrays, keep: np.ndarray, subsets: dict) -> list[dict[str, Any]]:
    """One row per video and subset: the sufficient statistics of each target's CCC and the gates' Σα."""
    video_of = np.repeat(np.arange(len(data.videos)), np.diff(data.offsets))  # (N,)
    rows = []
    for subset, member in subsets.items():
        selected = keep & member
        group = video_of[selected]
        count = np.bincount(group, minlength=len(data.videos))
        sums: dict[str, np.ndarray] = {}
        for k, target in enumerate(targets):
            p = values[selected, k].astype(np.float64)
            y = data.labels[selected, TARGETS.index(target)].astype(np.float64)
            for name, weights in (("sum_p", p), ("sum_y", y), ("sum_pp", p * p), ("sum_yy", y * y), ("sum_py", p * y)):
                sums[f"{name}_{target}"] = np.bincount(group, weights, minlength=len(data.videos))
        alpha = {}
        for gate, weights in (gates or {}).items():
            chosen = weights[selected].astype(np.float64)  # (n, M)
            alpha[gate] = np.stack(
                [np.bincount(group, chosen[:, m], minlength=len(data.videos)) for m in range(chosen.shape[1])], 1
            )  # (V, M)
        for v, video in enumerate(data.videos):
            if count[v] == 0:
                continue
            rows.append(
                {
                    "video": video,
                    "subset": subset,
                    "n": int(count[v]),
                    **{key: float(total[v]) for key, total in sums.items()},
                    **{f"alpha_{gate}": total[v].tolist() for gate, total in alpha.items()},
                }
            )
    return rows


def score_run(loaded: list[LoadedModel], data: SplitArrays, protocol: Protocol, seed: int) -> list[dict[str, Any]]:
    """Every cell of the protocol for one trained model (`loaded`: it, or one model per target): rows with
    perturbation, level, video, subset and the sufficient statistics."""
    keep = scored_frames(data, protocol.settings, protocol.split)
    rows = []
    for shift_s in protocol.settings.signed_shifts_s():
        values, targets, gates, shift_frames = _shifted(loaded, data, shift_s)
        subsets = _subsets(protocol, data, shift_frames, plain=shift_s == 0)
        rows += [{"perturbation": SHIFT, "level": shift_s, **r} for r in _cells(values, targets, gates, data, keep, subsets)]
    all_frames = {"all": np.ones(len(data.frames), bool)}
    for perturbation, level, perturbed in degradations(data, protocol.settings, seed):
        values, targets, gates = _predict(loaded, perturbed, 0)
        cells = _cells(values, targets, gates, perturbed, keep, all_frames)
        rows += [{"perturbation": perturbation, "level": level, **r} for r in cells]
    return rows


def degradations(data: SplitArrays, settings: ProtocolSettings, seed: int):
    """(perturbation, level, perturbed split) of every noise level and dropout fraction above 0; the same draws for
    every model of a seed."""
    for modality in ("audio", "visual"):
        for snr in settings.snr_db:
            yield f"{modality}_noise", float(snr), add_noise(data, modality, snr, np.random.default_rng(seed))
        for fraction in settings.dropout:
            if fraction > 0:  # dropping nothing is the plain condition
                yield f"{modality}_dropout", float(fraction), drop_frames(data, modality, fraction, np.random.default_rng(seed))
