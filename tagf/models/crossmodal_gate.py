"""`tagf_xmodal`: TAGF's step gate when it may see both modalities, and turn the audio down.

TAGF's gates each weigh one modality's candidates from that modality alone, and every audio candidate carries the
raw audio through its residual, so no α can reduce what misaligned audio contributes. Here each modality's step
weights come from the joint candidates [visual_m ; audio_m] (the released BiLSTM-over-steps scorer, of width
d_v + d_a), and a per-frame scale s = σ(w·mean_m [visual_m ; audio_m] + b) in (0, 1) multiplies the fused audio before
the head: the gate can distrust the audio where the two streams disagree.

    visual_steps (B, L, M, d_v), audio_steps (B, L, M, d_a) → fused visual (B, L, d_v), fused audio (B, L, d_a),
    α_visual, α_audio (B, L, M), audio scale (B, L)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from tagf.models.gates import StepBiLSTMGate

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig


class CrossModalGate(nn.Module):
    learned = True

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        joint = cfg.visual_dim + cfg.audio_dim
        self.visual_scorer = StepBiLSTMGate(joint, cfg)
        self.audio_scorer = StepBiLSTMGate(joint, cfg)
        self.scale = nn.Linear(joint, 1)
        nn.init.constant_(self.scale.bias, 3.0)  # σ(3) ≈ 0.95: it starts out trusting the audio, as TAGF does

    def forward(self, visual_steps: torch.Tensor, audio_steps: torch.Tensor, mask=None):
        joint = torch.cat((visual_steps, audio_steps), dim=-1)  # (B, L, M, d_v + d_a)
        visual_alpha = self.visual_scorer.alpha(joint)  # (B, L, M)
        audio_alpha = self.audio_scorer.alpha(joint)
        scale = torch.sigmoid(self.scale(joint.mean(2))).squeeze(-1)  # (B, L)
        visual = (visual_alpha.unsqueeze(-1) * visual_steps).sum(2)  # (B, L, d_v)
        audio = (audio_alpha.unsqueeze(-1) * audio_steps).sum(2) * scale.unsqueeze(-1)  # (B, L, d_a)
        return visual, audio, visual_alpha, audio_alpha, scale
