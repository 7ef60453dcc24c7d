"""Gates that weigh the M = S+1 co-attention candidates of one modality per frame.

Every gate maps candidates (B, L, M, d_m) to (fused (B, L, d_m), α (B, L, M)); α sums to 1 over M and is what the
interpretability plots show.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tagf.models.config import ModelConfig


class StepBiLSTMGate(nn.Module):
    """TAGF as released: a BiLSTM runs along the *step* axis of each frame's candidates and scores each step.

    score_m = mean(normalize(W [x_m ; BiLSTM(x)_m] + b)), α = softmax(score / τ) over the M steps. The candidates come
    first in the concatenation, as in the authors' `LSTM` (models/layer.py: `cat([inputs, outputs])`); imported
    weights depend on that column order.
    """

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        self.rnn = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(3 * dim, 2 * dim)
        self.dropout = nn.Dropout(cfg.gate_dropout)
        self.temperature = cfg.temperature
        # Learned initial state: rows 0-1 are h0 (forward, backward), rows 2-3 are c0; zeros unless the authors'
        # initialisation (xavier-uniform, as their LSTM) is asked for.
        self.init_hidden = nn.Parameter(
            nn.init.xavier_uniform_(torch.empty(4, dim)) if cfg.init == "authors" else torch.zeros(4, dim)
        )

    def forward(self, candidates, mask=None):
        b, length, m, dim = candidates.shape
        steps = candidates.reshape(b * length, m, dim)  # (B·L, M, d_m)
        state = self.init_hidden.unsqueeze(1).expand(4, b * length, dim)
        h0, c0 = state[:2].contiguous(), state[2:].contiguous()  # (2, B·L, d_m) each
        out, _ = self.rnn(steps, (h0, c0))  # (B·L, M, 2·d_m)
        joined = torch.cat((steps, out), dim=-1)  # (B·L, M, 3·d_m): candidates, then BiLSTM outputs
        scores = F.normalize(self.linear(self.dropout(joined)), dim=-1).mean(-1)  # (B·L, M)
        alpha = torch.softmax(scores / self.temperature, dim=-1).reshape(b, length, m)  # (B, L, M)
        return (alpha.unsqueeze(-1) * candidates).sum(2), alpha


class TimeBiLSTMGate(nn.Module):
    """The literal reading of "temporal gating": a BiLSTM along *time* over all candidates gives M logits/frame."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        m = cfg.steps + 1
        self.rnn = nn.LSTM(m * dim, dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(cfg.gate_dropout)
        self.linear = nn.Linear(2 * dim, m)

    def forward(self, candidates, mask=None):
        b, length, m, dim = candidates.shape
        frames = candidates.reshape(b, length, m * dim)  # (B, L, M·d_m)
        if mask is None:
            out, _ = self.rnn(frames)  # (B, L, 2·d_m)
        else:
            # `mask` (B, L) marks real frames; windows are padded only at their end (tagf.data.windows), so its count
            # per window is the real length, and packing keeps padding out of the backward direction's state.
            lengths = mask.sum(1).clamp_min(1).cpu()  # (B,); packing refuses an empty sequence
            packed = nn.utils.rnn.pack_padded_sequence(
                frames, lengths, batch_first=True, enforce_sorted=False
            )
            out, _ = self.rnn(packed)
            # (B, L, 2·d_m), zero past each window's length
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)
        alpha = torch.softmax(self.linear(self.dropout(out)), dim=-1)  # (B, L, M)
        return (alpha.unsqueeze(-1) * candidates).sum(2), alpha


class FCGate(nn.Module):
    """GRJCA: a Linear on the last step's output scores the steps; ReLU on the fused sum."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        self.linear = nn.Linear(dim, cfg.steps + 1)
        self.temperature = cfg.temperature

    def forward(self, candidates, mask=None):
        alpha = torch.softmax(self.linear(candidates[:, :, -1]) / self.temperature, dim=-1)  # (B, L, M)
        return torch.relu((alpha.unsqueeze(-1) * candidates).sum(2)), alpha


class MeanGate(nn.Module):
    """Uniform weights: every step counts the same."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()

    def forward(self, candidates, mask=None):
        b, length, m, _ = candidates.shape
        alpha = candidates.new_full((b, length, m), 1.0 / m)
        return candidates.mean(2), alpha


class LastGate(nn.Module):
    """RJCMA/JCA: only the final step's output is used."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()

    def forward(self, candidates, mask=None):
        b, length, m, _ = candidates.shape
        alpha = F.one_hot(torch.full((b, length), m - 1, device=candidates.device), m).to(candidates.dtype)
        return candidates[:, :, -1], alpha


GATES: dict[str, type[nn.Module]] = {
    "step_bilstm": StepBiLSTMGate,
    "time_bilstm": TimeBiLSTMGate,
    "fc": FCGate,
    "mean": MeanGate,
    "last": LastGate,
}
