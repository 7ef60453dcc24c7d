"""The TAGF authors' model, rewritten here from their public code: the oracle our faithful model is tested against
and the baseline of benchmarks/model_throughput.py. Nothing in tagf's own pipeline uses it.

Sources, read line by line (github leeyubin10/9th-ABAW and the code it imports):
- `models/model.py` `LFAN`: TCN per modality → BatchNorm1d → `TAGF` → regressor1 → bn1 → leaky_relu → regressor2
  → tanh; the frozen front ends sit under `spatial.{visual,audio}`.
- `models/TAGF.py` `TAGF`: L2-normalise both streams, `DCNLayer`, stack [x, step 1, step 2], the `LSTM` step encoder
  per modality, score = mean over features, softmax(score / 0.1) over steps, weighted sum; xavier initialisation.
- `models/layer.py` `LSTM`: BiLSTM from a learned (xavier) initial state, `cat([inputs, outputs])`, dropout,
  Linear, L2 normalisation.
- `models/av_crossatten.py` `DCNLayer` / `dense_coattn.py` `DenseCoAttn` (praveena2j/ABAW8, which TAGF imports):
  joint query, time-axis key Linear, tanh scores, dropout, tanh(value·scores), ReLU; every step's output kept.
- `models/temporal_convolutional_model.py` (sucv/ABAW3): weight-normed causal convs, pad both sides then chomp.
- `models/backbone.py` `VisualBackbone` over `models/arcface_model.py` `Backbone` (IR-50, output layer
  Linear(512·5·5 → 512) for 40-pixel crops, l2_norm at the end) and `AudioBackbone` (VGGish).

Module and parameter names are the authors', so its state dict is what their training saves. Only what the tests
need is parameterised (sizes, window); the gate weights α of the last forward are kept on the TAGF module so that
tests can compare them. It uses the old `weight_norm` on purpose (its state-dict names).
"""

from __future__ import annotations

import math
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init
from torch.nn.utils import weight_norm


# --- temporal_convolutional_model.py -------------------------------------------------------------------------------
class Chomp1d(nn.Module):
    def __init__(self, chomp_size):
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x):
        return x[:, :, : -self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_inputs, n_outputs, kernel_size, stride, dilation, padding, dropout=0.2):
        super().__init__()
        self.conv1 = weight_norm(
            nn.Conv1d(n_inputs, n_outputs, kernel_size, stride=stride, padding=padding, dilation=dilation)
        )
        self.chomp1 = Chomp1d(padding)
        self.relu1 = nn.LeakyReLU()
        self.dropout1 = nn.Dropout(dropout)
        self.conv2 = weight_norm(
            nn.Conv1d(n_outputs, n_outputs, kernel_size, stride=stride, padding=padding, dilation=dilation)
        )
        self.chomp2 = Chomp1d(padding)
        self.relu2 = nn.LeakyReLU()
        self.dropout2 = nn.Dropout(dropout)
        self.net = nn.Sequential(
            self.conv1,
            self.chomp1,
            self.relu1,
            self.dropout1,
            self.conv2,
            self.chomp2,
            self.relu2,
            self.dropout2,
        )
        self.downsample = nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None
        self.relu = nn.LeakyReLU()
        nn.init.xavier_uniform_(self.conv1.weight, gain=math.sqrt(2))
        nn.init.xavier_uniform_(self.conv2.weight, gain=math.sqrt(2))
        if self.downsample is not None:
            nn.init.xavier_uniform_(self.downsample.weight, gain=math.sqrt(2))

    def forward(self, x):
        net = self.net(x)
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(net + res)


class TemporalConvNet(nn.Module):
    def __init__(self, num_inputs, num_channels, kernel_size=2, dropout=0.2):
        super().__init__()
        layers = []
        for i in range(len(num_channels)):
            dilation_size = 2**i
            in_channels = num_inputs if i == 0 else num_channels[i - 1]
            layers += [
                TemporalBlock(
                    in_channels,
                    num_channels[i],
                    kernel_size,
                    stride=1,
                    dilation=dilation_size,
                    padding=(kernel_size - 1) * dilation_size,
                    dropout=dropout,
                )
            ]
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)


# --- dense_coattn.py / av_crossatten.py (the key Linear is 300 × 300 there; `window` here) ---------------------------
class DenseCoAttn(nn.Module):
    def __init__(self, dim1, dim2, dropout, window):
        super().__init__()
        dim = dim1 + dim2
        self.dropouts = nn.ModuleList([nn.Dropout(p=dropout) for _ in range(2)])
        self.query_linear = nn.Linear(dim, dim)
        self.key1_linear = nn.Linear(window, window)
        self.key2_linear = nn.Linear(window, window)
        self.value1_linear = nn.Linear(dim1, dim1)
        self.value2_linear = nn.Linear(dim2, dim2)
        self.relu = nn.ReLU()

    def forward(self, value1, value2):
        joint = torch.cat((value1, value2), dim=-1)
        joint = self.query_linear(joint)
        key1 = self.key1_linear(value1.transpose(1, 2))
        key2 = self.key2_linear(value2.transpose(1, 2))
        value1 = self.value1_linear(value1)
        value2 = self.value2_linear(value2)
        weighted1, _ = self.qkv_attention(joint, key1, value1, dropout=self.dropouts[0])
        weighted2, _ = self.qkv_attention(joint, key2, value2, dropout=self.dropouts[1])
        return weighted1, weighted2

    def qkv_attention(self, query, key, value, dropout=None):
        d_k = query.size(-1)
        scores = torch.bmm(key, query) / math.sqrt(d_k)
        scores = torch.tanh(scores)
        if dropout:
            scores = dropout(scores)
        weighted = torch.tanh(torch.bmm(value, scores))
        return self.relu(weighted), scores


class NormalSubLayer(nn.Module):
    def __init__(self, dim1, dim2, dropout, window):
        super().__init__()
        self.dense_coattn = DenseCoAttn(dim1, dim2, dropout, window)
        self.linears = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(dim1 + dim2, dim1), nn.ReLU(inplace=True), nn.Dropout(p=dropout)),
                nn.Sequential(nn.Linear(dim1 + dim2, dim2), nn.ReLU(inplace=True), nn.Dropout(p=dropout)),
            ]
        )

    def forward(self, data1, data2):
        weighted1, weighted2 = self.dense_coattn(data1, data2)
        data1 = data1 + self.linears[0](weighted1)
        data2 = data2 + self.linears[1](weighted2)
        return data1, data2


class DCNLayer(nn.Module):
    def __init__(self, dim1, dim2, num_seq, dropout, window):
        super().__init__()
        self.dcn_layers = nn.ModuleList([NormalSubLayer(dim1, dim2, dropout, window) for _ in range(num_seq)])

    def forward(self, data1, data2):
        data_1, data_2 = [], []
        for dense_coattn in self.dcn_layers:
            data1, data2 = dense_coattn(data1, data2)
            data_1.append(data1)
            data_2.append(data2)
        return data_1, data_2


# --- layer.py -------------------------------------------------------------------------------------------------------
class LSTM(nn.Module):
    def __init__(self, embed_size, dim, num_layers, dropout, residual_embeddings=True):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.rnn_dim = dim // 2
        self.linear = nn.Linear(dim + embed_size, dim)
        # nn.LSTM's own dropout acts between layers only; with one layer it does nothing (as there).
        self.rnn = nn.LSTM(
            embed_size,
            self.rnn_dim,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )
        self.residual_embeddings = residual_embeddings
        self.init_hidden = nn.Parameter(
            nn.init.xavier_uniform_(torch.empty(2 * 2 * num_layers, self.rnn_dim))
        )
        self.num_layers = num_layers

    def forward(self, inputs):
        batch = inputs.size(0)
        h0 = (
            self.init_hidden[: 2 * self.num_layers]
            .unsqueeze(1)
            .expand(2 * self.num_layers, batch, self.rnn_dim)
            .contiguous()
        )
        c0 = (
            self.init_hidden[2 * self.num_layers :]
            .unsqueeze(1)
            .expand(2 * self.num_layers, batch, self.rnn_dim)
            .contiguous()
        )
        outputs, _ = self.rnn(inputs, (h0, c0))
        if self.residual_embeddings:
            outputs = torch.cat([inputs, outputs], dim=-1)
        outputs = self.linear(self.dropout(outputs))
        return F.normalize(outputs, dim=-1)


# --- TAGF.py --------------------------------------------------------------------------------------------------------
class TAGF(nn.Module):
    def __init__(self, dv=256, da=128, window=300):
        super().__init__()
        self.coattn = DCNLayer(dv, da, 2, 0.6, window)
        self.video_temporal_encoder = LSTM(embed_size=dv, dim=2 * dv, num_layers=1, dropout=0.1)
        self.audio_temporal_encoder = LSTM(embed_size=da, dim=2 * da, num_layers=1, dropout=0.1)
        # Built but never used in forward, as there (the converter skips them).
        self.vregressor = nn.Sequential(
            nn.Linear(2 * dv, 128), nn.ReLU(inplace=True), nn.Dropout(0.6), nn.Linear(128, 1)
        )
        self.Joint = LSTM(4 * dv, 2 * dv, 2, dropout=0, residual_embeddings=True)
        self.aregressor = nn.Sequential(
            nn.Linear(2 * dv, 128), nn.ReLU(inplace=True), nn.Dropout(0.6), nn.Linear(128, 1)
        )
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=-1)
        self.init_weights()

    def init_weights(net, init_type="xavier", init_gain=1):
        def init_func(m):
            classname = m.__class__.__name__
            if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
                init.xavier_uniform_(m.weight.data, gain=init_gain)
                if hasattr(m, "bias") and m.bias is not None:
                    init.constant_(m.bias.data, 0.0)

        net.apply(init_func)

    def forward(self, f1_norm, f2_norm):
        video = F.normalize(f1_norm, dim=-1)
        audio = F.normalize(f2_norm, dim=-1)
        atten_video, atten_audio = self.coattn(video, audio)

        video_stack = torch.stack([video, atten_video[-2], atten_video[-1]], dim=2)  # [B, L, M, Dv]
        audio_stack = torch.stack([audio, atten_audio[-2], atten_audio[-1]], dim=2)  # [B, L, M, Da]

        B, L, M, Dv = video_stack.shape
        video_input = video_stack.view(B * L, M, Dv)
        video_encoded = self.video_temporal_encoder(video_input)
        video_score = torch.mean(video_encoded, dim=-1)  # [B*L, M]
        video_weights = F.softmax(video_score / 0.1, dim=1).unsqueeze(-1)  # [B*L, M, 1]
        fused_video = torch.sum(video_input * video_weights, dim=1).view(B, L, Dv)

        B, L, M, Da = audio_stack.shape
        audio_input = audio_stack.view(B * L, M, Da)
        audio_encoded = self.audio_temporal_encoder(audio_input)
        audio_score = torch.mean(audio_encoded, dim=-1)
        audio_weights = F.softmax(audio_score / 0.1, dim=1).unsqueeze(-1)
        fused_audio = torch.sum(audio_input * audio_weights, dim=1).view(B, L, Da)

        # Kept for the tests (not in the authors' code): α per frame, (B, L, M).
        self.alpha = (video_weights.view(B, L, M), audio_weights.view(B, L, M))
        return torch.cat((fused_video, fused_audio), -1)


# --- arcface_model.py / backbone.py (the front ends under `spatial.`) ----------------------------------------------
class Flatten(nn.Module):
    def forward(self, input):
        return input.view(input.size(0), -1)


def l2_norm(input, axis=1):
    norm = torch.norm(input, 2, axis, True)
    return torch.div(input, norm)


class bottleneck_IR(nn.Module):  # noqa: N801 - the authors' name
    def __init__(self, in_channel, depth, stride):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False), nn.BatchNorm2d(depth)
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        )

    def forward(self, x):
        shortcut = self.shortcut_layer(x)
        res = self.res_layer(x)
        return res + shortcut


class Bottleneck(namedtuple("Block", ["in_channel", "depth", "stride"])):
    """A named tuple describing a ResNet block."""


def get_block(in_channel, depth, num_units, stride=2):
    return [Bottleneck(in_channel, depth, stride)] + [
        Bottleneck(depth, depth, 1) for _ in range(num_units - 1)
    ]


def get_blocks_50():
    return [
        get_block(in_channel=64, depth=64, num_units=3, stride=1),
        get_block(in_channel=64, depth=128, num_units=4),
        get_block(in_channel=128, depth=256, num_units=14),
        get_block(in_channel=256, depth=512, num_units=3),
    ]


class Backbone(nn.Module):
    def __init__(self, drop_ratio=0.4, input_channels=3):
        super().__init__()
        self.input_layer = nn.Sequential(
            nn.Conv2d(input_channels, 64, (3, 3), 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)
        )
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(drop_ratio),
            Flatten(),
            nn.Linear(512 * 7 * 7, 512),
            nn.BatchNorm1d(512),
        )
        modules = []
        for block in get_blocks_50():
            for unit in block:
                modules.append(bottleneck_IR(unit.in_channel, unit.depth, unit.stride))
        self.body = nn.Sequential(*modules)

    def forward(self, x):
        x = self.input_layer(x)
        x = self.body(x)
        x = self.output_layer(x)
        return l2_norm(x)


class VisualBackbone(nn.Module):
    def __init__(self, num_classes=8, embedding_dim=512):
        super().__init__()
        self.backbone = Backbone(drop_ratio=0.4)
        self.backbone.output_layer = nn.Sequential(
            nn.BatchNorm2d(embedding_dim),
            nn.Dropout(0.4),
            Flatten(),
            nn.Linear(embedding_dim * 5 * 5, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
        )
        self.logits = nn.Linear(in_features=embedding_dim, out_features=num_classes)

    def forward(self, x):
        return self.backbone(x)


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        layers, in_channels = [], 1
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 128),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        x = x.contiguous()
        x = x.view(x.size(0), -1)
        return self.embeddings(x)


class AudioBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = VGG()

    def forward(self, x):  # (N, 96, 64) log-mel patches
        return self.backbone(x[:, None, :, :].float())


# --- model.py `LFAN` ------------------------------------------------------------------------------------------------
class LFAN(nn.Module):
    """The outer model, after its front ends: forward takes TCN inputs (B, L, 512) and (B, L, 128)."""

    def __init__(
        self,
        window=300,
        visual_channels=(512, 512, 256, 256),
        audio_channels=(128, 128, 128, 128),
        visual_in=512,
        audio_in=128,
        outputs=1,
        front_ends=False,
    ):
        super().__init__()
        self.spatial = nn.ModuleDict()
        if front_ends:
            self.spatial["visual"] = VisualBackbone()
            self.spatial["audio"] = AudioBackbone()
        self.temporal = nn.ModuleDict(
            {
                "video": TemporalConvNet(visual_in, visual_channels, kernel_size=5, dropout=0.1),
                "logmel": TemporalConvNet(audio_in, audio_channels, kernel_size=5, dropout=0.1),
            }
        )
        self.bn = nn.ModuleDict(
            {"video": nn.BatchNorm1d(visual_channels[-1]), "logmel": nn.BatchNorm1d(audio_channels[-1])}
        )
        self.TAGF = TAGF(visual_channels[-1], audio_channels[-1], window)
        self.regressor1 = nn.Linear(visual_channels[-1] + audio_channels[-1], 256)
        self.bn1 = nn.BatchNorm1d(256)
        self.regressor2 = nn.Linear(256, outputs)

    def forward(self, video, logmel):
        X = {"video": video.unsqueeze(1), "logmel": logmel.unsqueeze(1)}  # [batch, 1, length, feature_dim]
        for modal in X:
            X[modal] = X[modal].squeeze(1).transpose(1, 2)
            X[modal] = self.temporal[modal](X[modal])
            X[modal] = self.bn[modal](X[modal]).transpose(1, 2)
        c = self.TAGF(X["video"], X["logmel"])
        c = self.regressor1(c).transpose(1, 2)
        c = self.bn1(c).transpose(1, 2)
        c = F.leaky_relu(c)
        c = self.regressor2(c)
        return torch.tanh(c)


def randomise_buffers(model: nn.Module, seed: int = 0) -> None:
    """Give BatchNorm running statistics non-trivial values so eval-mode comparisons test them too."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
