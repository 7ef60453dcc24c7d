"""Regression head: Linear → BatchNorm → LeakyReLU → Linear → tanh, per frame, into [-1, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RegressionHead(nn.Module):
    def __init__(self, dim_in: int, hidden: int, outputs: int):
        super().__init__()
        self.hidden = nn.Linear(dim_in, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.out = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, L, outputs)
        b, length, _ = x.shape
        h = self.norm(self.hidden(x).reshape(b * length, -1))  # (B·L, hidden)
        return torch.tanh(self.out(F.leaky_relu(h))).reshape(b, length, -1)
