"""Per-frame predictions of a model over a whole split: window, predict, stitch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tagf.data.feature_store import SplitArrays
from tagf.data.windows import Windows
from tagf.evaluation.stitching import stitch
from tagf.models import FusionModel

INFERENCE_BATCH = 32  # windows per forward pass when predicting (no gradients are kept)


@dataclass
class FramePredictions:
    values: np.ndarray  # (N, T) per frame, in the split's row order
    visual_gate: np.ndarray | None  # (N, S+1) gate weights α of gated models; (N, targets, S+1) if separate
    audio_gate: np.ndarray | None
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)  # a mechanism's per-frame decisions


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
    windows = Windows(split, window, hop, oracle_alignment=model.cfg.audio_alignment == "oracle")
    outputs: dict[str, list[np.ndarray]] = {"values": [], "visual_gate": [], "audio_gate": []}
    for batch in windows.batches(batch_size, audio_shift=audio_shift):
        batch = batch.to(device)
        out = model(batch.visual, batch.audio, batch.frame_mask)
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

    diagnostics = {
        name.split(" ", 1)[1]: stitched(name) for name in outputs if name.startswith("diagnostic ")
    }
    return FramePredictions(stitched("values"), stitched("visual_gate"), stitched("audio_gate"), diagnostics)
