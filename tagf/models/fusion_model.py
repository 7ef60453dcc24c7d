"""The model every variant shares: per-modality TCN encoders → fusion → regression head.

    visual (B, L, Dv_in), audio (B, L, Da_in), mask (B, L) → prediction (B, L, outputs) in [-1, 1]

`fusion` picks what happens between encoders and head; with co-attention, `gate` picks how the S+1 step outputs
are weighed. Everything else (encoders, normalisation, head) is identical across variants, so comparisons are fair.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from tagf.models.coattention import RecursiveCoAttention
from tagf.models.config import ModelConfig
from tagf.models.gates import GATES
from tagf.models.head import RegressionHead
from tagf.models.temporal_encoder import TemporalEncoder


class FusionOutput(NamedTuple):
    prediction: torch.Tensor  # (B, L, outputs)
    visual_gate: torch.Tensor | None  # (B, L, S+1) gate weights α, co-attention variants only
    audio_gate: torch.Tensor | None


class FusionModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        uses_visual = cfg.fusion != "audio_only"
        uses_audio = cfg.fusion != "visual_only"
        self.visual_encoder = (
            TemporalEncoder(cfg.visual_in, cfg.visual_channels, cfg.tcn_kernel, cfg.tcn_dropout)
            if uses_visual
            else None
        )
        self.audio_encoder = (
            TemporalEncoder(cfg.audio_in, cfg.audio_channels, cfg.tcn_kernel, cfg.tcn_dropout)
            if uses_audio
            else None
        )
        self.coattention = RecursiveCoAttention(cfg) if cfg.fusion == "coattention" else None
        if self.coattention is not None:
            self.visual_gate = GATES[cfg.gate](cfg.visual_dim, cfg)
            self.audio_gate = GATES[cfg.gate](cfg.audio_dim, cfg)
        head_in = cfg.visual_dim * uses_visual + cfg.audio_dim * uses_audio
        self.head = RegressionHead(head_in, cfg.head_hidden, cfg.outputs)

    def forward(
        self, visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None = None
    ) -> FusionOutput:
        streams = []
        if self.visual_encoder is not None:
            streams.append(F.normalize(self.visual_encoder(visual), dim=-1))  # (B, L, d_v)
        if self.audio_encoder is not None:
            streams.append(F.normalize(self.audio_encoder(audio), dim=-1))  # (B, L, d_a)
        if self.coattention is None:
            return FusionOutput(self.head(torch.cat(streams, dim=-1)), None, None)
        visual_steps, audio_steps = self.coattention(*streams, mask)  # (B, L, M, d_m) each
        visual_fused, visual_alpha = self.visual_gate(visual_steps, mask)
        audio_fused, audio_alpha = self.audio_gate(audio_steps, mask)
        prediction = self.head(torch.cat((visual_fused, audio_fused), dim=-1))
        return FusionOutput(prediction, visual_alpha, audio_alpha)
