"""Causal temporal convolutional network (Bai et al. 2018) as the TAGF authors use it per modality.

Level i: two weight-normed Conv1d (dilation 2**i), each followed by LeakyReLU and dropout, a residual (1×1 Conv1d
when the width changes) and a LeakyReLU on the sum. We pad on the left only, which equals the reference's
"pad both sides, then chomp the right" without computing and discarding the extra frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class CausalConv1d(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, kernel: int, dilation: int):
        super().__init__()
        self.left_pad = (kernel - 1) * dilation
        self.conv = weight_norm(nn.Conv1d(channels_in, channels_out, kernel, dilation=dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, L) -> (B, C_out, L)
        # cat writes the input once; F.pad fills the whole padded tensor first, then copies the input over it
        zeros = x.new_zeros(x.shape[0], x.shape[1], self.left_pad)
        return self.conv(torch.cat((zeros, x), dim=2))  # conv over (B, C_in, pad + L)


class TemporalBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv1d(channels_in, channels_out, kernel, dilation)
        self.conv2 = CausalConv1d(channels_out, channels_out, kernel, dilation)
        self.dropout = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(channels_in, channels_out, 1) if channels_in != channels_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, L) -> (B, C_out, L)
        y = self.dropout(F.leaky_relu(self.conv1(x)))
        y = self.dropout(F.leaky_relu(self.conv2(y)))
        residual = x if self.downsample is None else self.downsample(x)
        return F.leaky_relu(y + residual)


class TemporalEncoder(nn.Module):
    """(B, L, D_in) → (B, L, channels[-1]): the TCN levels, then BatchNorm1d over channels."""

    def __init__(self, channels_in: int, channels: tuple[int, ...], kernel: int, dropout: float):
        super().__init__()
        widths = (channels_in, *channels)
        self.levels = nn.Sequential(
            *(TemporalBlock(widths[i], widths[i + 1], kernel, 2**i, dropout) for i in range(len(channels)))
        )
        self.norm = nn.BatchNorm1d(channels[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.levels(x.transpose(1, 2)))  # (B, C, L)
        return y.transpose(1, 2)  # (B, L, C)
