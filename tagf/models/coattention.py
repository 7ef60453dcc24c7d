"""Recursive joint cross-modal attention (JCA/RJCMA, Praveen et al.), keeping the output of every step.

One step, for m in {v, a}, d = d_v + d_a:
    J   = W_J [X_v ; X_a]                       (B, L, d)
    K_m = key_m(X_m)                            (B, d_m, L)
    C_m = Dropout(tanh(K_m J / √d))             (B, d_m, d)
    A_m = ReLU(tanh((X_m W_{V,m}) C_m))         (B, L, d)
    X_m ← X_m + Dropout(ReLU(A_m W_{O,m}))      (B, L, d_m)

Key modes:
- faithful: key_m is a Linear along the time axis (L → L), as in the authors' code, so L is fixed.
- length_agnostic (ours): key_m is a per-frame Linear d_m → d_m and the time contraction K_m J is averaged over
  the valid frames instead of summed, so C_m is a temporal statistic whose scale does not depend on L, and padded
  frames never enter it. It works at any L and under masks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tagf.models.config import ModelConfig


class JointCoAttentionStep(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dv, da = cfg.visual_dim, cfg.audio_dim
        d = dv + da
        self.faithful = cfg.key_mode == "faithful"
        self.window = cfg.window
        self.scale = 1.0 / math.sqrt(d)
        self.joint = nn.Linear(d, d)
        key_size = (cfg.window, cfg.window) if self.faithful else None
        self.key_visual = nn.Linear(*(key_size or (dv, dv)))
        self.key_audio = nn.Linear(*(key_size or (da, da)))
        self.value_visual = nn.Linear(dv, dv)
        self.value_audio = nn.Linear(da, da)
        self.out_visual = nn.Linear(d, dv)
        self.out_audio = nn.Linear(d, da)
        self.dropout = nn.Dropout(cfg.attention_dropout)

    def _key(self, key: nn.Linear, x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        if self.faithful:
            return key(x.transpose(1, 2))  # (B, d_m, L)
        k = key(x).transpose(1, 2)  # (B, d_m, L)
        return k * weight  # weight: (B, 1, L), 1/n_valid on valid frames, 0 elsewhere

    def _attend(self, joint, key, value_proj, out_proj, x, weight):
        context = self.dropout(
            torch.tanh(torch.bmm(self._key(key, x, weight), joint) * self.scale)
        )  # (B, d_m, d)
        attended = torch.relu(torch.tanh(torch.bmm(value_proj(x), context)))  # (B, L, d)
        return x + self.dropout(torch.relu(out_proj(attended)))  # (B, L, d_m)

    def forward(self, visual, audio, mask=None):
        weight = None
        if not self.faithful:
            valid = (
                torch.ones(visual.shape[:2], device=visual.device) if mask is None else mask.to(visual.dtype)
            )  # (B, L)
            weight = (valid / valid.sum(1, keepdim=True).clamp_min(1.0)).unsqueeze(1)  # (B, 1, L)
        joint = self.joint(torch.cat((visual, audio), dim=-1))  # (B, L, d)
        new_visual = self._attend(joint, self.key_visual, self.value_visual, self.out_visual, visual, weight)
        new_audio = self._attend(joint, self.key_audio, self.value_audio, self.out_audio, audio, weight)
        return new_visual, new_audio


class RecursiveCoAttention(nn.Module):
    """S steps; returns the candidates [X^(0), ..., X^(S)] per modality, stacked as (B, L, S+1, d_m)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.faithful = cfg.key_mode == "faithful"
        self.window = cfg.window
        self.steps = nn.ModuleList(JointCoAttentionStep(cfg) for _ in range(cfg.steps))

    def forward(self, visual, audio, mask=None):
        if self.faithful and visual.shape[1] != self.window:
            raise ValueError(
                f"faithful key mode needs windows of exactly {self.window} frames, got L={visual.shape[1]}; "
                "set key_mode=length_agnostic to use other lengths"
            )
        visuals, audios = [visual], [audio]
        for step in self.steps:
            visual, audio = step(visual, audio, mask)
            visuals.append(visual)
            audios.append(audio)
        return torch.stack(visuals, dim=2), torch.stack(audios, dim=2)  # (B, L, M, d_m) each
