"""VGGish (Hershey et al. 2017): 96×64 log-mel patch → 128-d embedding.

Parameter names follow the widely used PyTorch port (`features.{0,3,6,8,11,13}`, `embeddings.{0,2,4}`) so its state
dicts load as they are; its post-processing (PCA and 8-bit quantisation, `pproc.*`) is not applied: we keep the raw
embedding, which is what fusion models consume. The TAGF authors' copy (`models/backbone.py` `VGG`) leaves out the
port's final ReLU; `authors=True` does the same.
"""

from __future__ import annotations

import torch
from torch import nn

from tagf.features.backbone_weights import load_weights


class VGGish(nn.Module):
    def __init__(self, authors: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for width, pool in ((64, True), (128, True), (256, False), (256, True), (512, False), (512, True)):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 128),
            *(() if authors else (nn.ReLU(True),)),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:  # (N, 96, 64) -> (N, 128)
        x = self.features(patches.unsqueeze(1))  # (N, 512, 6, 4)
        x = x.permute(0, 2, 3, 1).flatten(1)  # TF's (H, W, C) flattening order, as the port does
        return self.embeddings(x)


def load_vggish(url: str, authors: bool = False) -> VGGish:
    model = VGGish(authors)
    load_weights(model, url, ignore_prefixes=("pproc.",))
    return model.eval()
