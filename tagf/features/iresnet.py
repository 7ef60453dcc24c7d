"""IR-ResNet-50 ("IR-50", ArcFace "ir" mode, Deng et al. 2019): 112×112 aligned face → 512-d embedding.

The layout and parameter names are face.evoLVe's `Backbone(input_size=112, num_layers=50, mode="ir")`, the model the
ABAW community pre-trains on MS-Celeb-1M and fine-tunes on facial-expression data, so its state dicts load as they
are: `input_layer.*`, `body.{i}.res_layer.*` / `body.{i}.shortcut_layer.*`, `output_layer.*`.

The TAGF authors' front end (`models/backbone.py` `VisualBackbone` over `models/arcface_model.py` `Backbone`, in
github leeyubin10/9th-ABAW and sucv/ABAW3) is the same network with three differences, which `authors=True` selects:
its first stage keeps stride 1, it sees 40-pixel centre crops of 48-pixel faces (so the output layer is
Linear(512·5·5 → 512)), and it L2-normalises the embedding. Both take faces scaled to [-1, 1]
((x/255 − 0.5)/0.5, the authors' GroupNormalize(0.5, 0.5)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tagf.features.backbone_weights import load_weights

STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))  # (width, units) of IR-50
INPUT_PX = 112
AUTHORS_FACE_PX, AUTHORS_CROP_PX = 48, 40  # faces stored at 48 px, centre-cropped to 40 at evaluation


class BottleneckIR(nn.Module):
    def __init__(self, channels_in: int, depth: int, stride: int):
        super().__init__()
        if channels_in == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(channels_in, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(channels_in),
            nn.Conv2d(channels_in, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRResNet50(nn.Module):
    embedding_dim = 512

    def __init__(self, authors: bool = False):
        super().__init__()
        self.l2_normalise = authors
        first_stride, output_px = (1, AUTHORS_CROP_PX // 8) if authors else (2, INPUT_PX // 16)
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)
        )
        units, channels = [], 64
        for stage, (depth, count) in enumerate(STAGES):
            units += [BottleneckIR(channels, depth, first_stride if stage == 0 else 2)] + [
                BottleneckIR(depth, depth, 1) for _ in range(count - 1)
            ]
            channels = depth
        self.body = nn.Sequential(*units)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(),
            nn.Flatten(),
            nn.Linear(512 * output_px**2, 512),
            nn.BatchNorm1d(512),
        )

    def forward(self, faces: torch.Tensor) -> torch.Tensor:  # (N, 3, 112 or 40, same) in [-1, 1] -> (N, 512)
        embedding = self.output_layer(self.body(self.input_layer(faces)))
        return F.normalize(embedding, dim=1) if self.l2_normalise else embedding


def load_iresnet50(url: str, authors: bool = False) -> IRResNet50:
    model = IRResNet50(authors)
    load_weights(model, url)
    return model.eval()
