"""`lag_attention`: each visual frame finds its audio within ±K seconds before the streams are fused.

The encoders are causal TCNs and co-attention mixes frames only through a window-level context, so no TAGF variant
can realign audio that arrives late. Here, after the encoders, each visual frame i attends over the audio frames
j with |j − i| ≤ K (non-causal: later audio too):

    a_ij = softmax_j(q_i · k_j / √h + b[j − i])   q = W_q visual, k = W_k audio (h = 32)
    audio'_i = normalize(Σ_j a_ij audio_j)         the audio realigned to frame i, then fused as in TAGF
    lag_i = Σ_j a_ij (j − i) / fps                 the lag it attended to, in seconds (+: the audio is late)

The relative-position bias b is learned and starts gently peaked at 0 (b[δ] = −2|δ|/K: a frame K frames away
weighs e⁻² of its own at first). It used to start at −|δ|/2, which gives a 1-s lag e⁻¹⁵ of the weight of lag 0:
its gradient vanished with it, and in the earlier reduced study the attended lag never followed the true lag. Even with the gentle start it is trained only by the regression loss, which gives it a reason
to look away from lag 0 only where the training audio is lagged; tagf.models.offset_search finds the offset
without needing that.

    visual (B, L, d_v), audio (B, L, d_a), mask (B, L) → audio' (B, L, d_a), lag (B, L)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig

HIDDEN = 32
MASKED = -1e4  # a score no key can win with (−inf would give NaN where a row has no key at all)


class LagAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.span = max(1, round(cfg.max_lag_s * cfg.fps))  # K, frames
        self.fps = cfg.fps
        self.query = nn.Linear(cfg.visual_dim, HIDDEN)
        self.key = nn.Linear(cfg.audio_dim, HIDDEN)
        offsets = torch.arange(-self.span, self.span + 1, dtype=torch.float32)
        self.bias = nn.Parameter(-2.0 * offsets.abs() / self.span)  # (2K+1,) gently peaked at 0

    def forward(self, visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None = None):
        length = visual.shape[1]
        scores = torch.bmm(self.query(visual), self.key(audio).transpose(1, 2)) / math.sqrt(
            HIDDEN
        )  # (B, L, L)
        positions = torch.arange(length, device=visual.device)
        offset = positions[None, :] - positions[:, None]  # (L, L): j − i
        within = offset.abs() <= self.span
        bias = self.bias[(offset + self.span).clamp(0, 2 * self.span)]  # (L, L)
        scores = scores + torch.where(within, bias, torch.full_like(bias, MASKED))
        if mask is not None:  # padded frames have no audio to attend to
            scores = scores.masked_fill(~mask[:, None, :], MASKED)
        weights = torch.softmax(scores, dim=-1)  # (B, L, L)
        aligned = F.normalize(torch.bmm(weights, audio), dim=-1)  # (B, L, d_a)
        lag = (weights * offset.to(weights.dtype)).sum(-1) / self.fps  # (B, L) seconds
        return aligned, lag
