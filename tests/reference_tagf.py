"""A straightforward eager TAGF laid out like the authors' code base (module names, old weight_norm, pad-and-chomp).

Written here from the published description, independently of tagf.models: the converter test loads its state
dict into our model and compares outputs, and benchmarks/ uses it as the eager baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm


class Chomp1d(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        return x[:, :, : -self.size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_in, n_out, kernel, dilation, dropout):
        super().__init__()
        pad = (kernel - 1) * dilation
        self.conv1 = weight_norm(nn.Conv1d(n_in, n_out, kernel, padding=pad, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(n_out, n_out, kernel, padding=pad, dilation=dilation))
        self.net = nn.Sequential(
            self.conv1,
            Chomp1d(pad),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            self.conv2,
            Chomp1d(pad),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
        )
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None
        self.relu = nn.LeakyReLU()

    def forward(self, x):
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(self.net(x) + res)


class TemporalConvNet(nn.Module):
    def __init__(self, n_in, channels, kernel=5, dropout=0.1):
        super().__init__()
        layers = []
        for i, c in enumerate(channels):
            layers.append(TemporalBlock(n_in if i == 0 else channels[i - 1], c, kernel, 2**i, dropout))
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)


class DenseCoAttn(nn.Module):
    def __init__(self, dim1, dim2, window, dropout):
        super().__init__()
        dim = dim1 + dim2
        self.dropouts = nn.ModuleList([nn.Dropout(dropout) for _ in range(2)])
        self.query_linear = nn.Linear(dim, dim)
        self.key1_linear = nn.Linear(window, window)
        self.key2_linear = nn.Linear(window, window)
        self.value1_linear = nn.Linear(dim1, dim1)
        self.value2_linear = nn.Linear(dim2, dim2)
        self.relu = nn.ReLU()

    def qkv(self, query, key, value, dropout):
        scores = dropout(torch.tanh(torch.bmm(key, query) / math.sqrt(query.size(-1))))
        return self.relu(torch.tanh(torch.bmm(value, scores)))

    def forward(self, v1, v2):
        joint = self.query_linear(torch.cat((v1, v2), dim=-1))
        key1 = self.key1_linear(v1.transpose(1, 2))
        key2 = self.key2_linear(v2.transpose(1, 2))
        w1 = self.qkv(joint, key1, self.value1_linear(v1), self.dropouts[0])
        w2 = self.qkv(joint, key2, self.value2_linear(v2), self.dropouts[1])
        return w1, w2


class NormalSubLayer(nn.Module):
    def __init__(self, dim1, dim2, window, dropout):
        super().__init__()
        self.dense_coattn = DenseCoAttn(dim1, dim2, window, dropout)
        self.linears = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(dim1 + dim2, dim1), nn.ReLU(), nn.Dropout(dropout)),
                nn.Sequential(nn.Linear(dim1 + dim2, dim2), nn.ReLU(), nn.Dropout(dropout)),
            ]
        )

    def forward(self, d1, d2):
        w1, w2 = self.dense_coattn(d1, d2)
        return d1 + self.linears[0](w1), d2 + self.linears[1](w2)


class DCNLayer(nn.Module):
    def __init__(self, dim1, dim2, steps, window, dropout):
        super().__init__()
        self.dcn_layers = nn.ModuleList([NormalSubLayer(dim1, dim2, window, dropout) for _ in range(steps)])


class StepEncoder(nn.Module):
    def __init__(self, dim, dropout=0.1, tau=0.1):
        super().__init__()
        self.rnn = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(3 * dim, 2 * dim)
        self.dropout = nn.Dropout(dropout)
        self.init_hidden = nn.Parameter(torch.randn(4, dim) * 0.1)
        self.tau = tau

    def forward(self, cands):  # list of (B, L, d)
        b, length, d = cands[0].shape
        x = torch.stack(cands, dim=2).reshape(b * length, len(cands), d)
        h0 = self.init_hidden[:2].unsqueeze(1).repeat(1, b * length, 1)
        c0 = self.init_hidden[2:].unsqueeze(1).repeat(1, b * length, 1)
        out, _ = self.rnn(x, (h0, c0))
        out = self.linear(self.dropout(torch.cat([out, x], dim=-1)))
        score = F.normalize(out, dim=-1).mean(-1)
        alpha = torch.softmax(score / self.tau, dim=-1)
        return (alpha.unsqueeze(-1) * x).sum(1).reshape(b, length, d)


class TAGFFusion(nn.Module):
    def __init__(self, dim1, dim2, steps, window):
        super().__init__()
        self.coattn = DCNLayer(dim1, dim2, steps, window, 0.6)
        self.video_temporal_encoder = StepEncoder(dim1)
        self.audio_temporal_encoder = StepEncoder(dim2)
        # Built but never used in forward, as in the authors' code.
        self.vregressor = nn.Linear(dim1, 1)
        self.aregressor = nn.Linear(dim2, 1)
        self.Joint = nn.Linear(dim1 + dim2, dim1 + dim2)

    def forward(self, v, a):
        vs, as_ = [v], [a]
        for layer in self.coattn.dcn_layers:
            v, a = layer(v, a)
            vs.append(v)
            as_.append(a)
        return torch.cat((self.video_temporal_encoder(vs), self.audio_temporal_encoder(as_)), dim=-1)


class AuthorsTAGF(nn.Module):
    def __init__(
        self,
        window=300,
        steps=2,
        outputs=1,
        visual_channels=(512, 512, 256, 256),
        audio_channels=(128, 128, 128, 128),
        visual_in=512,
        audio_in=128,
    ):
        super().__init__()
        self.spatial = nn.Linear(4, 4)  # stands in for the frozen backbones: skipped on import
        self.temporal = nn.ModuleDict(
            {
                "video": TemporalConvNet(visual_in, visual_channels),
                "logmel": TemporalConvNet(audio_in, audio_channels),
            }
        )
        self.bn = nn.ModuleDict(
            {
                "video": nn.BatchNorm1d(visual_channels[-1]),
                "logmel": nn.BatchNorm1d(audio_channels[-1]),
            }
        )
        dv, da = visual_channels[-1], audio_channels[-1]
        self.TAGF = TAGFFusion(dv, da, steps, window)
        self.regressor1 = nn.Linear(dv + da, 256)
        self.bn1 = nn.BatchNorm1d(256)
        self.regressor2 = nn.Linear(256, outputs)

    def forward(self, visual, audio):
        v = F.normalize(
            self.bn["video"](self.temporal["video"](visual.transpose(1, 2))).transpose(1, 2), dim=-1
        )
        a = F.normalize(
            self.bn["logmel"](self.temporal["logmel"](audio.transpose(1, 2))).transpose(1, 2), dim=-1
        )
        fused = self.TAGF(v, a)
        b, length, _ = fused.shape
        h = F.leaky_relu(self.bn1(self.regressor1(fused).reshape(b * length, -1)))
        return torch.tanh(self.regressor2(h)).reshape(b, length, -1)


def randomise_buffers(model: nn.Module, seed: int = 0) -> None:
    """Give BatchNorm running statistics non-trivial values so eval-mode comparisons test them too."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
