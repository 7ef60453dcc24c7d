"""Light built-in extractors, for the synthetic corpus (no pretrained weights needed, nothing downloaded).

- Faces: a fixed random-feature CNN (Gaussian 5×5 filters from a fixed seed, ReLU) pooled over a 4×4 grid of the
  face, on the per-image standardised grey face: 32 filters × 16 cells = 512-d, the size of IR-50's embedding.
  The grid keeps *where* a pattern is (mouth corners vs centre), which is what expressions change.
- Audio: per VGGish patch, the mean and the standard deviation over time of each of the 64 log-mel bands: 128-d,
  the size of VGGish's embedding; they carry loudness, pitch region and spectral tilt.
They are not meant for real faces and speech: use IR-50 and VGGish weights for Aff-Wild2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FACE_PX = 32
FILTERS = 32
GRID = 4


class RandomFeatureFaceEncoder(nn.Module):
    embedding_dim = FILTERS * GRID * GRID  # 512, as IR-50's

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        filters = torch.randn(FILTERS, 1, 5, 5, generator=g)
        self.register_buffer("filters", filters / filters.flatten(1).norm(dim=1)[:, None, None, None])

    def forward(self, faces: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) in [-1, 1] -> (N, 512)
        grey = F.interpolate(
            faces.mean(1, keepdim=True), size=(FACE_PX, FACE_PX), mode="bilinear", align_corners=False
        )
        grey = (grey - grey.mean((2, 3), keepdim=True)) / grey.std((2, 3), keepdim=True).clamp_min(1e-3)
        maps = F.relu(F.conv2d(grey, self.filters, padding=2))  # (N, 32, 32, 32)
        return F.adaptive_avg_pool2d(maps, GRID).flatten(1)  # (N, 512)


class LogMelStatistics(nn.Module):
    def forward(self, patches: torch.Tensor) -> torch.Tensor:  # (N, 96, 64) -> (N, 128)
        return torch.cat((patches.mean(1), patches.std(1)), dim=1)
