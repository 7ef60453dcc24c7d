"""The misalignment protocol: what every trained model of a study is scored on, the same way for every variant.

A trained model (or one model per target) is scored on the report split:
- plain: CCC over the split's labelled frames, and per video;
- under audio shifts of ±s seconds (`shift_s`; each video shifts by round(s·fps) of its own frames, and a frame
  whose shifted audio would come from outside its video is not scored: it has no audio to misalign);
- under modality noise and dropout (tagf.study.perturbations), every model seeing the same draws;
- on a synthetic corpus with masks, within each frame category (tagf.study.frame_categories), with the gates' mean
  weight α per video, category and step for gated models.
Each row of the robustness table is one (perturbation, level) with `frames` scored, its per-video scores and, on a
synthetic corpus, the effective lag the model faces (built-in per-video lag + applied shift, in seconds).

`tagf robustness` and an ablation's trials run this same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tagf.data.feature_store import SplitArrays
from tagf.data.synth.ground_truth import AudioLags, audio_lags
from tagf.data.windows import audio_inside_video
from tagf.errors import DataError
from tagf.evaluation.evaluate import LoadedModel, combined_predictions
from tagf.evaluation.inference import predict_frames
from tagf.evaluation.scoring import score
from tagf.score_names import SCORES
from tagf.study.conditions import SHIFT, ProtocolSettings
from tagf.study.frame_categories import CATEGORIES, FrameCategories, frame_categories
from tagf.study.gates import gate_means
from tagf.study.perturbations import add_noise, drop_frames


@dataclass(frozen=True)
class Protocol:
    """How one corpus's report split is scored."""

    split: str  # its name, for messages
    settings: ProtocolSettings
    lags: AudioLags | None = None  # synthetic corpus: each report video's built-in lag, for the effective lag
    categories: FrameCategories | None = None  # synthetic corpus with masks: each report row's category

    @classmethod
    def of_store(cls, store: str, split_name: str, split: SplitArrays, settings: ProtocolSettings) -> Protocol:
        """The protocol of a feature store's split, with the corpus's ground truth where it has one."""
        return cls(split_name, settings, audio_lags(store, split), frame_categories(store, split))


@dataclass(frozen=True)
class RunScores:
    """Everything the protocol measured of one trained model."""

    scores: dict[str, Any]  # plain report-split scores: ccc_*, frames, per_video
    robustness: list[dict[str, Any]]  # one row per (perturbation, level), with per_video
    by_category: dict[str, dict[str, Any] | None] | None  # None without masks; a category without frames: None
    gates: dict[str, dict[str, Any]] | None  # {"visual"|"audio": tagf.study.gates.gate_means}; None if ungated


def effective_lag(lags: AudioLags, shift_frames: np.ndarray) -> dict[str, Any]:
    """The row fields of the lag the model faces under a shift of (V,) frames: mean, min, max, per video (s)."""
    per_video = lags.effective_s(shift_frames)  # (V,)
    return {
        "effective_lag_s_mean": float(per_video.mean()),
        "effective_lag_s_min": float(per_video.min()),
        "effective_lag_s_max": float(per_video.max()),
        "effective_lag_s": dict(zip(lags.videos, per_video.tolist())),
    }


def _row(name: str, perturbation: str, level: float, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": name,
        "perturbation": perturbation,
        "level": level,
        **{k: result.get(k) for k in (*SCORES, "frames")},
        "per_video": result["per_video"],  # for paired comparisons (tables leave it out)
    }


def shift_rows(name: str, loaded: list[LoadedModel], data: SplitArrays, protocol: Protocol) -> list[dict[str, Any]]:
    """A row per audio shift of ±s seconds and the clean condition (shift 0)."""
    fps = np.array([data.fps[video] for video in data.videos])  # (V,)
    lengths = np.diff(data.offsets)  # (V,)
    rows = []
    for shift_s in protocol.settings.signed_shifts_s():
        shift = np.rint(shift_s * fps).astype(int)  # (V,) frames
        values = np.zeros((len(data.frames), sum(len(m.targets) for m in loaded)), np.float32)  # (N, targets)
        # Videos sharing a frame rate share a shift in frames: predict each such group at once.
        for frames in np.unique(shift):
            group = np.flatnonzero(shift == frames)  # video indices
            rows_of = np.concatenate([np.arange(data.offsets[v], data.offsets[v + 1]) for v in group])
            part = data.select([data.videos[v] for v in group])
            values[rows_of], targets = combined_predictions(loaded, part, audio_shift=int(frames))
        scored = data.label_valid & audio_inside_video(data, np.repeat(shift, lengths))  # (N,)
        if data.label_valid.any() and not scored.any():  # (no labelled frame at all: scoring says so)
            raise DataError(
                f"audio shift {shift_s:+g} s: no labelled frame of split {protocol.split!r} keeps its audio inside "
                "its video, so there is nothing to score; use smaller shifts"
            )
        result = score(values, data, targets, valid=scored, split_name=protocol.split)
        lag = effective_lag(protocol.lags, shift) if protocol.lags is not None else {}
        rows.append({**_row(name, SHIFT, shift_s, result), **lag})
    return rows


def degradation_rows(
    models: dict[str, list[LoadedModel]], data: SplitArrays, protocol: Protocol, seed: int = 0
) -> list[dict[str, Any]]:
    """A row per model, modality and level of noise and dropout; every model sees the same draws."""
    conditions = []
    for modality in ("audio", "visual"):
        conditions += [
            (f"{modality}_noise", float(snr), add_noise(data, modality, snr, np.random.default_rng(seed)))
            for snr in protocol.settings.snr_db
        ]
        conditions += [
            (f"{modality}_dropout", float(f), drop_frames(data, modality, f, np.random.default_rng(seed)))
            for f in protocol.settings.dropout
        ]
    lag = effective_lag(protocol.lags, np.zeros(len(data.videos), int)) if protocol.lags is not None else {}
    rows = []
    for name, loaded in models.items():
        for perturbation, level, perturbed in conditions:
            values, targets = combined_predictions(loaded, perturbed)
            result = score(values, perturbed, targets, split_name=protocol.split)
            rows.append({**_row(name, perturbation, level, result), **lag})
    return rows


def _by_category(values, targets, data: SplitArrays, protocol: Protocol) -> dict[str, dict[str, Any] | None]:
    by_category = {}
    for name in CATEGORIES:
        labelled = data.label_valid & protocol.categories.rows(name)  # (N,)
        # A category without a labelled frame has no CCC: None, not 0.
        by_category[name] = (
            score(values, data, targets, valid=labelled, split_name=protocol.split) if labelled.any() else None
        )
    return by_category


def score_run(name: str, loaded: list[LoadedModel], data: SplitArrays, protocol: Protocol, seed: int) -> RunScores:
    """Every measure of the protocol for one trained model (`loaded`: it, or one model per target)."""
    values, targets = combined_predictions(loaded, data)
    scores = score(values, data, targets, split_name=protocol.split)
    rows = shift_rows(name, loaded, data, protocol) + degradation_rows({name: loaded}, data, protocol, seed)
    by_category, gates = None, None
    if protocol.categories is not None:
        by_category = _by_category(values, targets, data, protocol)
        model = loaded[0]
        if len(loaded) == 1 and model.model.gated:  # the gates are not part of the values: predict them once more
            predicted = predict_frames(model.model, data, model.window, model.hop)
            gates = {
                "visual": gate_means(predicted.visual_gate, protocol.categories),
                "audio": gate_means(predicted.audio_gate, protocol.categories),
            }
    return RunScores(scores, rows, by_category, gates)
