"""`sync_align`: the audio's offset searched for in the data and undone before TAGF fuses.

TAGF, RJCMA/GRJCA and lag_attention can only weigh or attend to the audio they are given; none can say how far it
is off. Here the offset is estimated from the two streams themselves, with no lag label, and undone. Of the
mechanisms known to work (SyncNet's search over candidate offsets with a confidence, Synchformer's offset
classifier, cross-correlation of learned projections) this is the third, with SyncNet's search and confidence:

    x_v = Δ box_0.96s(visual), x_a = Δ audio          frame-to-frame changes; the face smoothed to the 0.96 s of
                                                      audio each audio feature summarises (VGGish's patch)
    z_v = (x_v − μ_v) A, z_a = (x_a − μ_a) B          (B, L, C): C = 4 canonical variates
    r[t, k] = Pearson correlation of z_v[u] and z_a[u + k] over the W frames u around t (W = sync_window_s · fps),
              averaged over the C pairs, for every candidate offset k ∈ [−K, K] (K = round(max_lag_s · fps))
    p(k | t) = softmax_k (w · r[t, k])                 offsets with fewer than W/4 pairs left out

**Fitted, not trained by gradient** (tagf.training fits it before the first epoch; it sees no label and no lag):
A and B are the canonical correlation analysis of the training split's faces and voices frame by frame, taken to
be in sync (ridge 1e-3 of the mean variance: FaceSync, Slaney & Covell, NIPS 2000, measured audio-visual
synchrony as the correlation of CCA projections); differencing whitens them in time, so that the correlation
peaks sharply at the offset that lines the streams up. The temperature w is the one that makes "in sync" (k = 0
within ±0.1 s) most likely on the selection split's videos, as they are: SyncNet's and Synchformer's
self-supervision, which holds where most video is in sync, as broadcast and web video such as Aff-Wild2 are (a
corpus whose audio is mostly lagged teaches it that lag). Fitting it changes no other weight and draws nothing
random: the fusion learns exactly as TAGF's for the same seed.

**Used** before the fusion, per frame: k̂ = argmax_k p, confidence c = the posterior mass within ±0.25 s of k̂
(SyncNet's "how much the best offset stands out", as a probability). Where c reaches the threshold the audio of
frame t is read k̂ frames later (the offset undone); elsewhere it stays unshifted and TAGF's gates weigh it as they
would. The threshold is fitted too, self-supervised: the confidence that unrelated audio (each selection video's
face with another video's voice) reaches in 5 % of its frames, and at least `sync_min_confidence`: audio with nothing
to say about the face is realigned at most that often. Over a whole video (tagf.evaluation.inference: every window then hears audio from anywhere in its video) or
within one request (serving). What it decided comes back per frame: `estimated_lag_s` (k̂ in seconds, +: the audio
is late), `sync_confidence` (c) and `realigned` (1 where the offset was undone).

    visual (B, L, Dv_in), audio (B, L, Da_in), valid (B, L) → offset (B, L) frames, confidence (B, L)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig

COMPONENTS = 4  # canonical pairs: more add noise (tried: 8 found the offset less often than 4)
RIDGE = 1e-3  # of the mean variance, added to each covariance before whitening
AUDIO_PATCH_S = 0.96  # what one audio feature summarises (tagf.features.logmel)
IN_SYNC_S = 0.1  # "in sync" for the temperature: within this of 0
CONFIDENT_S = (
    0.25  # the confidence counts the posterior within this of the estimate (the protocol's finest bin)
)
SCALES = torch.logspace(0, 3, 61)  # temperatures w tried (1 … 1000)
FALSE_REALIGNMENT = 0.05  # the share of frames of unrelated audio its confidence threshold lets it realign
MASKED = -1e4  # the score of an offset without enough pairs (−inf would give NaN where no offset has any)
EPS = 1e-8  # variance floor of a window's variate: a flat stretch correlates with nothing


class OffsetSearch(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.span = max(1, round(cfg.max_lag_s * cfg.fps))  # K, frames
        self.width = max(1, round(cfg.sync_window_s * cfg.fps)) // 2 * 2 + 1  # W, odd: centred on t
        self.smooth = max(1, round(AUDIO_PATCH_S * cfg.fps)) // 2 * 2 + 1
        self.in_sync = round(IN_SYNC_S * cfg.fps)
        self.confident = round(CONFIDENT_S * cfg.fps)
        # Buffers: saved with the model, set by fit(); until then the search finds nothing (zero projections).
        self.register_buffer("visual_mean", torch.zeros(cfg.visual_in))
        self.register_buffer("visual_projection", torch.zeros(cfg.visual_in, COMPONENTS))
        self.register_buffer("audio_mean", torch.zeros(cfg.audio_in))
        self.register_buffer("audio_projection", torch.zeros(cfg.audio_in, COMPONENTS))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("threshold", torch.tensor(float(cfg.sync_min_confidence)))

    def changes(self, visual: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_v, x_a), (B, L, D) each: the face at the audio features' resolution, and both as changes per frame."""
        kernel = torch.full((visual.shape[2], 1, self.smooth), 1.0 / self.smooth, dtype=visual.dtype)
        smoothed = F.conv1d(
            F.pad(visual.transpose(1, 2), (self.smooth // 2,) * 2, mode="replicate"),
            kernel.to(visual.device),
            groups=visual.shape[2],
        ).transpose(1, 2)
        return _difference(smoothed), _difference(audio)

    def variates(self, visual: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_v, z_a), (B, L, C): the canonical variates of each frame's changes."""
        x_v, x_a = self.changes(visual, audio)
        dtype = x_v.dtype
        return (
            (x_v - self.visual_mean.to(dtype)) @ self.visual_projection.to(dtype),
            (x_a - self.audio_mean.to(dtype)) @ self.audio_projection.to(dtype),
        )

    def correlations(
        self, z_v: torch.Tensor, z_a: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(r (B, L, 2K+1) over offsets k = −K..K, whether each offset had enough pairs (B, L, 2K+1)); `valid`
        (B, L): frames with both streams."""
        k, width = self.span, self.width
        pairs = valid.to(z_v.dtype)[:, :, None] * F.pad(valid.to(z_v.dtype), (k, k)).unfold(1, 2 * k + 1, 1)
        counts = _box(pairs, width)
        n = counts.clamp_min(1.0)
        r = torch.zeros_like(pairs)
        for j in range(z_v.shape[-1]):
            x = z_v[..., j, None] * pairs  # (B, L, 2K+1): z_v[u] where (u, u + k) is a pair
            y = F.pad(z_a[..., j], (k, k)).unfold(1, 2 * k + 1, 1) * pairs  # z_a[u + k]
            mx, my = _box(x, width) / n, _box(y, width) / n
            cov = _box(x * y, width) / n - mx * my
            vx, vy = _box(x * x, width) / n - mx * mx, _box(y * y, width) / n - my * my
            r += cov / torch.sqrt(vx.clamp_min(EPS) * vy.clamp_min(EPS))
        return r / z_v.shape[-1], counts >= width / 4

    @torch.no_grad()
    def estimate(
        self, visual: torch.Tensor, audio: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(offset k̂ (B, L) frames, confidence (B, L), used (B, L) bool: where the offset is undone)."""
        r, usable = self.correlations(*self.variates(visual.double(), audio.double()), valid)
        p = torch.softmax((self.scale.double() * r).masked_fill(~usable, MASKED), dim=-1)
        best = p.argmax(-1)  # (B, L), index k + K
        near = (torch.arange(p.shape[-1], device=p.device) - best[..., None]).abs() <= self.confident
        confidence = (p * near).sum(-1).float()
        return best - self.span, confidence, confidence >= self.threshold

    @torch.no_grad()
    def fit(
        self,
        train: Sequence[tuple[torch.Tensor, torch.Tensor]],
        selection: Sequence[tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        """The canonical projections from the training videos, the temperature from the selection videos; each
        video (visual (L, Dv), audio (L, Da)) as it is, taken to be in sync."""
        changes = [self.changes(v[None].double(), a[None].double()) for v, a in train]
        x_v = torch.cat([c[0][0] for c in changes])
        x_a = torch.cat([c[1][0] for c in changes])
        means, whitened = [], []
        for x in (x_v, x_a):
            mean = x.mean(0)
            cov = torch.cov((x - mean).T, correction=0)
            values, vectors = torch.linalg.eigh(cov + RIDGE * cov.diagonal().mean() * torch.eye(len(cov)))
            means.append(mean)
            whitened.append(vectors @ torch.diag(values.rsqrt()) @ vectors.T)
        cross = (
            whitened[0]
            @ torch.cov(torch.cat((x_v - means[0], x_a - means[1]), 1).T, correction=0)[
                : x_v.shape[1], x_v.shape[1] :
            ]
            @ whitened[1]
        )
        u, _, vh = torch.linalg.svd(cross)
        self.visual_mean.copy_(means[0])
        self.audio_mean.copy_(means[1])
        self.visual_projection.copy_(whitened[0] @ u[:, :COMPONENTS])
        self.audio_projection.copy_(whitened[1] @ vh.T[:, :COMPONENTS])
        self.scale.copy_(self._likeliest_scale(selection))
        self.threshold.copy_(max(self.threshold, self._unrelated_confidence(selection)))

    def _unrelated_confidence(self, videos: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The confidence that each video's face with the next one's voice (unrelated audio) reaches in
        FALSE_REALIGNMENT of its frames: what it takes to realign audio that has nothing to do with the face."""
        if len(videos) < 2:
            return self.threshold
        found = []
        for k, (visual, _) in enumerate(videos):
            other = videos[(k + 1) % len(videos)][1][: len(visual)]
            valid = torch.zeros(1, len(visual), dtype=torch.bool)
            valid[0, : len(other)] = True
            audio = torch.zeros(len(visual), other.shape[1], dtype=other.dtype)
            audio[: len(other)] = other
            _, confidence, _ = self.estimate(visual[None], audio[None], valid)
            found.append(confidence[0, : len(other)])
        return torch.quantile(torch.cat(found).double(), 1 - FALSE_REALIGNMENT).to(self.threshold.dtype)

    def _likeliest_scale(self, videos: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The temperature under which "in sync" is most likely on these videos (every 8th frame)."""
        centre = self.span
        log_likelihood = torch.zeros(len(SCALES), dtype=torch.float64)
        for visual, audio in videos:
            valid = torch.ones(1, len(visual), dtype=torch.bool)
            r, usable = self.correlations(*self.variates(visual[None].double(), audio[None].double()), valid)
            r, usable = r[0, ::8], usable[0, ::8]  # (frames, 2K+1)
            keep = usable[:, centre]
            for s, scale in enumerate(SCALES.double()):
                log_p = torch.log_softmax((scale * r).masked_fill(~usable, MASKED), dim=-1)
                in_sync = log_p[:, centre - self.in_sync : centre + self.in_sync + 1].logsumexp(-1)
                log_likelihood[s] += in_sync[keep].sum()
        return SCALES[int(log_likelihood.argmax())].to(self.scale.dtype)


def _difference(x: torch.Tensor) -> torch.Tensor:
    """(B, L, D) change from the frame before (0 at the first frame)."""
    return torch.cat((torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]), dim=1)


def _box(values: torch.Tensor, width: int) -> torch.Tensor:
    """(B, L, K') summed over the `width` (odd) frames centred on each t along L, zeros beyond the ends: a
    difference of cumulative sums (a convolution would cost `width` times more)."""
    half = width // 2
    total = F.pad(values, (0, 0, half + 1, half)).cumsum(dim=1)  # (B, L + width, K')
    return total[:, width:] - total[:, :-width]


def shift_audio(
    audio: torch.Tensor, offset: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio (B, L, D) read `offset` (B, L) frames later at each frame, zero where that falls outside the sequence
    or on an invalid frame; and where it is now valid (B, L)."""
    length = audio.shape[1]
    source = torch.arange(length, device=audio.device)[None, :] + offset  # (B, L)
    inside = (source >= 0) & (source < length)
    source = source.clamp(0, length - 1)
    moved = torch.gather(audio, 1, source[..., None].expand(-1, -1, audio.shape[2]))
    now_valid = inside & torch.gather(valid, 1, source)
    return moved * now_valid[..., None], now_valid
