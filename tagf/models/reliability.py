"""`reliability`: a per-frame choice between the visual, the audio and the fused prediction, in the spirit of SAGE
(Lee et al., arXiv 2603.11468).

Auxiliary heads predict from each stream alone (each trained with its own 1 − CCC loss, `auxiliary_weight` of the
main one); per frame and target, weights w over {visual, audio, fused} come from both streams: their projections
p_v, p_a (c = 16, layer-normed), the heads' disagreement |ŷ_v − ŷ_a| and the streams' local correlation (the mean of
p_v·p_a/c over ±0.5 s), through a small MLP, over a learned temperature, with no L2 bound:

    w = softmax(MLP([p_v ; p_a ; |ŷ_v − ŷ_a| ; r]) / τ)      (B, L, targets, 3)
    ŷ = w_v ŷ_v + w_a ŷ_a + w_f ŷ_fused

A frame whose audio does not fit its face can lean on the face alone.

    visual (B, L, d_v), audio (B, L, d_a), fused prediction (B, L, T) → prediction (B, L, T), (ŷ_v, ŷ_a), w
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from tagf.models.head import RegressionHead

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig

PROJECTED = 16
SOURCES = ("visual", "audio", "fused")


class Reliability(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.outputs = cfg.outputs
        self.visual_head = RegressionHead(cfg.visual_dim, cfg.head_hidden, cfg.outputs)
        self.audio_head = RegressionHead(cfg.audio_dim, cfg.head_hidden, cfg.outputs)
        self.visual_projection = nn.Linear(cfg.visual_dim, PROJECTED)
        self.audio_projection = nn.Linear(cfg.audio_dim, PROJECTED)
        self.window = 2 * max(1, round(0.5 * cfg.fps)) + 1  # frames of the local correlation, odd
        self.weigher = nn.Sequential(
            nn.Linear(2 * PROJECTED + cfg.outputs + 1, 32), nn.LeakyReLU(), nn.Linear(32, 3 * cfg.outputs)
        )
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, visual: torch.Tensor, audio: torch.Tensor, fused: torch.Tensor):
        b, length, _ = visual.shape
        from_visual, from_audio = self.visual_head(visual), self.audio_head(audio)  # (B, L, T) each
        p_v = F.layer_norm(self.visual_projection(visual), (PROJECTED,))  # (B, L, c)
        p_a = F.layer_norm(self.audio_projection(audio), (PROJECTED,))
        agreement = (p_v * p_a).mean(-1).unsqueeze(1)  # (B, 1, L)
        local = F.avg_pool1d(
            agreement, self.window, 1, self.window // 2, count_include_pad=False
        )  # (B, 1, L)
        features = torch.cat((p_v, p_a, (from_visual - from_audio).abs(), local.transpose(1, 2)), dim=-1)
        logits = self.weigher(features).reshape(b, length, self.outputs, 3) / self.log_temperature.exp()
        weights = torch.softmax(logits, dim=-1)  # (B, L, T, 3)
        candidates = torch.stack((from_visual, from_audio, fused), dim=-1)  # (B, L, T, 3)
        return (weights * candidates).sum(-1), (from_visual, from_audio), weights
