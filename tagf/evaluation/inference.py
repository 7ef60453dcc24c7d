"""Per-frame predictions of a model over a whole split: window, predict, stitch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tagf.data.feature_store import SplitArrays
from tagf.data.windows import Windows
from tagf.evaluation.stitching import stitch
from tagf.models import FusionModel
from tagf.models.offset_search import OffsetSearch

INFERENCE_BATCH = 32  # windows per forward pass when predicting (no gradients are kept)


@dataclass
class FramePredictions:
    values: np.ndarray  # (N, T) per frame, in the split's row order
    visual_gate: np.ndarray | None  # (N, S+1) gate weights α of gated models; (N, targets, S+1) if separate
    audio_gate: np.ndarray | None
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)  # a mechanism's per-frame decisions


@torch.inference_mode()
def search_offsets(
    search: OffsetSearch, split: SplitArrays, audio_shift: int, device
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The offset search over each whole video (its audio shifted by `audio_shift` frames, as the protocol asks):
    (N,) frames to undo per row (0 where it is not confident), and its per-row decisions (`estimated_lag_s` in the
    video's own seconds, `sync_confidence`, `realigned`)."""
    n = len(split.frames)
    realign, estimated, confidence, realigned = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n)
    lengths = np.diff(split.offsets)
    whole = Windows(split, int(lengths.max()), int(lengths.max()))  # one window per video
    for v in range(len(split.videos)):
        batch = whole.gather(np.array([v]), audio_shift).to(device)
        valid = batch.frame_mask & batch.audio_valid
        offset, conf, used = search.estimate(batch.visual, batch.audio, valid)
        rows = slice(split.offsets[v], split.offsets[v + 1])
        length = int(lengths[v])
        realign[rows] = (offset * used)[0, :length].cpu().numpy()
        estimated[rows] = offset[0, :length].cpu().numpy() / split.fps[split.videos[v]]
        confidence[rows] = conf[0, :length].float().cpu().numpy()
        realigned[rows] = used[0, :length].cpu().numpy()
    return realign, {
        "estimated_lag_s": estimated,
        "sync_confidence": confidence,
        "realigned": realigned,
    }


@torch.inference_mode()
def predict_frames(
    model: FusionModel,
    split: SplitArrays,
    window: int,
    hop: int,
    batch_size: int = INFERENCE_BATCH,
    audio_shift: int = 0,
    device: torch.device | str = "cpu",
) -> FramePredictions:
    model.eval()
    search = model.search()
    realign, found = (None, {}) if search is None else search_offsets(search, split, audio_shift, device)
    windows = Windows(
        split, window, hop, oracle_alignment=model.cfg.audio_alignment == "oracle", realign=realign
    )
    outputs: dict[str, list[np.ndarray]] = {"values": [], "visual_gate": [], "audio_gate": []}
    for batch in windows.batches(batch_size, audio_shift=audio_shift):
        batch = batch.to(device)
        out = model(batch.visual, batch.audio, batch.frame_mask, realigned=search is not None)
        outputs["values"].append(out.prediction.float().cpu().numpy())
        if out.visual_gate is not None:
            outputs["visual_gate"].append(out.visual_gate.float().cpu().numpy())
            outputs["audio_gate"].append(out.audio_gate.float().cpu().numpy())
        for name, value in (out.diagnostics or {}).items():
            outputs.setdefault(f"diagnostic {name}", []).append(value.float().cpu().numpy())

    def stitched(name):
        if not outputs.get(name):
            return None
        return stitch(np.concatenate(outputs[name]), windows.video, windows.start, split.offsets)

    diagnostics = found | {
        name.split(" ", 1)[1]: stitched(name) for name in outputs if name.startswith("diagnostic ")
    }
    return FramePredictions(stitched("values"), stitched("visual_gate"), stitched("audio_gate"), diagnostics)
