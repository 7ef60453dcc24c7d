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
    def of_store(
        cls, store: str, split_name: str, split: SplitArrays, settings: ProtocolSettings
    ) -> Protocol:
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


def _per_frame(predicted) -> dict[str, np.ndarray]:
    """A gated or diagnosed model's per-frame arrays besides its values, each (N,) or (N, k): `alpha_visual`,
    `alpha_audio`, `diag_<name>`; one model per target inside one file has them per target, averaged here."""
    found = {"alpha_visual": predicted.visual_gate, "alpha_audio": predicted.audio_gate}
    found |= {f"diag_{name}": value for name, value in predicted.diagnostics.items()}
    averaged = {}
    for name, value in found.items():
        if value is None:
            continue
        per_target = value.ndim == 3 or (
            name in ("diag_attended_lag_s", "diag_audio_scale") and value.ndim == 2
        )
        averaged[name] = value.mean(axis=1) if per_target else value
    return averaged


def _predict(
    loaded: list[LoadedModel], data: SplitArrays, shift: int
) -> tuple[list[str], dict[str, np.ndarray]]:
    """(targets, {"values": (N, targets), and the model's _per_frame arrays}) under one audio shift."""
    if len(loaded) == 1:
        model = loaded[0]
        predicted = predict_frames(model.model, data, model.window, model.hop, audio_shift=shift)
        arrays = _per_frame(predicted) if model.model.gated or predicted.diagnostics else {}
        return list(model.targets), {"values": predicted.values, **arrays}
    values, targets = combined_predictions(loaded, data, audio_shift=shift)
    return targets, {"values": values}


def _shifted(loaded: list[LoadedModel], data: SplitArrays, shift_s: float):
    """`_predict` with each video's audio shifted by round(shift_s·fps) of its frames (videos of one fps at once);
    and the shift in frames of each row."""
    fps = np.array([data.fps[video] for video in data.videos])
    shift = np.rint(shift_s * fps).astype(int)  # (V,) frames
    arrays: dict[str, np.ndarray] = {}
    for frames in np.unique(shift):
        group = np.flatnonzero(shift == frames)
        rows = np.concatenate([np.arange(data.offsets[v], data.offsets[v + 1]) for v in group])
        targets, part = _predict(loaded, data.select([data.videos[v] for v in group]), int(frames))
        for name, value in part.items():
            arrays.setdefault(name, np.zeros((len(data.frames), *value.shape[1:])))[rows] = value
    return targets, arrays, np.repeat(shift, np.diff(data.offsets))


def _subsets(
    protocol: Protocol, data: SplitArrays, lag: np.ndarray | None, plain: bool
) -> dict[str, np.ndarray]:
    """{subset: (N,) bool} of one condition (before intersecting with the scored frames); `lag`: each row's signed
    effective lag in seconds, where the corpus knows it."""
    subsets = {"all": np.ones(len(data.frames), bool)}
    if lag is not None:
        edges = [*protocol.settings.lag_bins_s, np.inf]
        for label, low, high in zip(lag_bin_labels(protocol.settings.lag_bins_s), edges[:-1], edges[1:]):
            subsets[label] = (np.abs(lag) >= low) & (np.abs(lag) < high)
    if plain:
        if protocol.outage is not None:
            subsets["outage"] = protocol.outage
        subsets["no_face"] = ~data.visual_valid
    return subsets


def _effective_lag(protocol: Protocol, data: SplitArrays, shift_frames: np.ndarray) -> np.ndarray | None:
    """(N,) signed seconds: built-in local lag + applied shift (+: the audio is late); None without ground truth."""
    if protocol.local_lag_s is None:
        return None
    fps = np.repeat([data.fps[v] for v in data.videos], np.diff(data.offsets))
    return protocol.local_lag_s + shift_frames / fps


def _sums(group: np.ndarray, values: np.ndarray, videos: int) -> np.ndarray:
    """(V, k) per-video sums of (n, k) or (n,) values."""
    values = values.reshape(len(values), int(np.prod(values.shape[1:]))).astype(np.float64)
    return np.stack([np.bincount(group, values[:, m], minlength=videos) for m in range(values.shape[1])], 1)


def _cells(targets, arrays, lag, data: SplitArrays, keep: np.ndarray, subsets: dict) -> list[dict[str, Any]]:
    """One row per video and subset: the sufficient statistics of each target's CCC; with ground truth, Σ and Σ² of
    the signed effective lag; Σα of each gate; of each diagnostic d, Σd, Σd² and Σd·lag, and of a lag estimate
    (`*_lag_s`) Σ|d − lag|, also over the frames it realigned (`diag_realigned`)."""
    video_of = np.repeat(np.arange(len(data.videos)), np.diff(data.offsets))  # (N,)
    videos, rows = len(data.videos), []
    for subset, member in subsets.items():
        selected = keep & member
        group = video_of[selected]
        count = np.bincount(group, minlength=videos)
        scalars: dict[str, np.ndarray] = {}
        for k, target in enumerate(targets):
            p = arrays["values"][selected, k].astype(np.float64)
            y = data.labels[selected, TARGETS.index(target)].astype(np.float64)
            for name, weights in (
                ("sum_p", p),
                ("sum_y", y),
                ("sum_pp", p * p),
                ("sum_yy", y * y),
                ("sum_py", p * y),
            ):
                scalars[f"{name}_{target}"] = np.bincount(group, weights, minlength=videos)
        if lag is not None:
            scalars |= {
                "sum_lag": _sums(group, lag[selected], videos)[:, 0],
                "sum_lag2": _sums(group, lag[selected] ** 2, videos)[:, 0],
            }
        lists: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            if name == "values":
                continue
            chosen = value[selected]
            lists[name] = _sums(group, chosen, videos)
            if name.startswith("diag_"):
                lists[f"{name}_sq"] = _sums(group, chosen**2, videos)
                if lag is not None:
                    here = lag[selected].reshape(-1, *([1] * (chosen.ndim - 1)))
                    lists[f"{name}_lag"] = _sums(group, chosen * here, videos)
                    if name.endswith(
                        "_lag_s"
                    ):  # a lag estimate: its absolute error, where it was acted on too
                        error = np.abs(chosen - here)
                        lists[f"{name}_abs_error"] = _sums(group, error, videos)
                        if "diag_realigned" in arrays:
                            used = arrays["diag_realigned"][selected].reshape(error.shape)
                            lists[f"{name}_abs_error_realigned"] = _sums(group, error * used, videos)
        for v, video in enumerate(data.videos):
            if count[v]:
                rows.append(
                    {
                        "video": video,
                        "subset": subset,
                        "n": int(count[v]),
                        **{key: float(total[v]) for key, total in scalars.items()},
                        **{key: total[v].tolist() for key, total in lists.items()},
                    }
                )
    return rows


def score_run(
    loaded: list[LoadedModel], data: SplitArrays, protocol: Protocol, seed: int
) -> list[dict[str, Any]]:
    """Every cell of the protocol for one trained model (`loaded`: it, or one model per target): rows with
    perturbation, level, video, subset and the sufficient statistics."""
    keep = scored_frames(data, protocol.settings, protocol.split)
    rows = []
    for shift_s in protocol.settings.signed_shifts_s():
        targets, arrays, shift_frames = _shifted(loaded, data, shift_s)
        lag = _effective_lag(protocol, data, shift_frames)
        subsets = _subsets(protocol, data, lag, plain=shift_s == 0)
        rows += [
            {"perturbation": SHIFT, "level": shift_s, **r}
            for r in _cells(targets, arrays, lag, data, keep, subsets)
        ]
    all_frames = {"all": np.ones(len(data.frames), bool)}
    lag = _effective_lag(protocol, data, np.zeros(len(data.frames)))
    for perturbation, level, perturbed in degradations(data, protocol.settings, seed):
        targets, arrays = _predict(loaded, perturbed, 0)
        cells = _cells(targets, arrays, lag, perturbed, keep, all_frames)
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
                yield (
                    f"{modality}_dropout",
                    float(fraction),
                    drop_frames(data, modality, fraction, np.random.default_rng(seed)),
                )
