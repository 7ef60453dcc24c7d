"""How the S+1 co-attention candidates of both modalities are weighed per frame: one interface for every gate.

    visual_steps (B, L, M, d_v), audio_steps (B, L, M, d_a), mask (B, L)
        → fused visual (B, L, d_v), fused audio (B, L, d_a), α_visual, α_audio (B, L, M), audio scale (B, L) | None

Most gates weigh each modality from its own candidates alone (tagf.models.gates, one gate per modality:
`ModalityGates`); `crossmodal` weighs both from both and may scale the audio down (tagf.models.crossmodal_gate).
`GATES` names them all; the model builds the one its config names and calls it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from tagf.models.crossmodal_gate import CrossModalGate
from tagf.models.gates import MODALITY_GATES

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig


class ModalityGates(nn.Module):
    """A gate of one kind for each modality, each seeing only its own candidates."""

    def __init__(self, kind: type[nn.Module], cfg: ModelConfig):
        super().__init__()
        self.visual = kind(cfg.visual_dim, cfg)
        self.audio = kind(cfg.audio_dim, cfg)
        self.learned = getattr(kind, "learned", True)

    def forward(self, visual_steps: torch.Tensor, audio_steps: torch.Tensor, mask=None):
        visual, visual_alpha = self.visual(visual_steps, mask)
        audio, audio_alpha = self.audio(audio_steps, mask)
        return visual, audio, visual_alpha, audio_alpha, None


def _per_modality(kind: type[nn.Module]) -> Callable[[ModelConfig], nn.Module]:
    return lambda cfg: ModalityGates(kind, cfg)


GATES: dict[str, Callable[[ModelConfig], nn.Module]] = {
    **{name: _per_modality(kind) for name, kind in MODALITY_GATES.items()},
    "crossmodal": CrossModalGate,
}
