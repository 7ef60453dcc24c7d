"""The model every variant shares: per-modality TCN encoders → fusion → regression head.

    visual (B, L, Dv_in), audio (B, L, Da_in), mask (B, L) → prediction (B, L, outputs) in [-1, 1]

`fusion` picks what happens between encoders and head; with co-attention, `gate` picks how the S+1 step outputs
are weighed (a joint gate, `crossmodal`, weighs both modalities at once), `audio_alignment: attention` realigns the
audio to the face before the co-attention (tagf.models.lag_attention), and `output: reliability` chooses per frame
between unimodal and fused predictions (tagf.models.reliability). Everything else (encoders, normalisation, head) is
identical across variants, so comparisons are fair. What a mechanism decides per frame comes back in
`diagnostics`: `attended_lag_s` (B, L), `audio_scale` (B, L), `reliability` (B, L, outputs, 3).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from tagf.models.coattention import RecursiveCoAttention
from tagf.models.config import ModelConfig
from tagf.models.gating import GATES
from tagf.models.head import RegressionHead
from tagf.models.lag_attention import LagAttention
from tagf.models.offset_search import OffsetSearch, shift_audio
from tagf.models.reliability import Reliability
from tagf.models.temporal_encoder import TemporalEncoder


class FusionOutput(NamedTuple):
    prediction: torch.Tensor  # (B, L, outputs)
    # Gate weights α, co-attention variants only: (B, L, S+1), or (B, L, outputs, S+1) with separate_targets.
    visual_gate: torch.Tensor | None
    audio_gate: torch.Tensor | None
    diagnostics: dict[str, torch.Tensor] | None = (
        None  # per-frame decisions of a mechanism (module docstring)
    )
    auxiliary: tuple[torch.Tensor, ...] = ()  # (B, L, outputs) predictions trained with their own loss


def authors_init(module: nn.Module) -> None:
    """The authors' TAGF.init_weights: xavier-uniform weights and zero biases for every Linear (their test is
    "Linear" or "Conv" in the class name; the fusion has no Conv, and nn.LSTM matches neither)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class FusionModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.separate_targets and cfg.outputs > 1:
            # One whole model per target, trained side by side: parameters are disjoint, so the summed loss
            # gives each the gradients (and Adam state) it would get alone.
            single = cfg.model_copy(update={"separate_targets": False, "outputs": 1})
            # The same RNG state for each: the authors' per-target runs share a seed, so start from the same weights.
            state = torch.get_rng_state()
            models = []
            for _ in range(cfg.outputs):
                torch.set_rng_state(state)
                models.append(FusionModel(single))
            self.per_target = nn.ModuleList(models)
            return
        self.per_target = None
        uses_visual = cfg.fusion != "audio_only"
        uses_audio = cfg.fusion != "visual_only"
        self.visual_encoder = (
            TemporalEncoder(cfg.visual_in, cfg.visual_channels, cfg.tcn_kernel, cfg.tcn_dropout)
            if uses_visual
            else None
        )
        self.audio_encoder = (
            TemporalEncoder(cfg.audio_in, cfg.audio_channels, cfg.tcn_kernel, cfg.tcn_dropout)
            if uses_audio
            else None
        )
        self.coattention = RecursiveCoAttention(cfg) if cfg.fusion == "coattention" else None
        self.aligner = LagAttention(cfg) if cfg.audio_alignment == "attention" and uses_audio else None
        self.gate = GATES[cfg.gate](cfg) if self.coattention is not None else None
        head_in = cfg.visual_dim * uses_visual + cfg.audio_dim * uses_audio
        self.head = RegressionHead(head_in, cfg.head_hidden, cfg.outputs)
        self.reliability = (
            Reliability(cfg) if cfg.output == "reliability" and uses_visual and uses_audio else None
        )
        if cfg.init == "authors":
            self._authors_init()
        self.offset_search = None
        if cfg.audio_alignment == "search" and uses_visual and uses_audio:
            # Last, on a forked random state: every other weight, and every random draw of training, stays the
            # plain variant's for the same seed.
            with torch.random.fork_rng(devices=[]):
                self.offset_search = OffsetSearch(cfg)

    def _authors_init(self) -> None:
        """The authors' initialisation of the TCNs' 1×1 downsample convolutions and of the fusion."""
        for encoder in (self.visual_encoder, self.audio_encoder):
            for level in encoder.levels if encoder is not None else ():
                if level.downsample is not None:  # their TemporalBlock.init_weights; the weight-normed convs'
                    # xavier there is overwritten by weight_norm's recomputation, so it has no effect
                    nn.init.xavier_uniform_(level.downsample.weight, gain=math.sqrt(2))
        if self.coattention is not None:
            authors_init(self.coattention)
            authors_init(self.gate)

    def searches(self) -> list[OffsetSearch]:
        """Every offset search of this model (one per target model), to fit before training."""
        if self.per_target is not None:
            return [found for model in self.per_target for found in model.searches()]
        return [] if self.offset_search is None else [self.offset_search]

    def search(self) -> OffsetSearch | None:
        """The offset search, if this model realigns its audio (one model per target: the first one's)."""
        return self.per_target[0].search() if self.per_target is not None else self.offset_search

    @property
    def gated(self) -> bool:
        """Whether it has a learned gate, whose weights are worth analysing (a uniform or last-step gate is not)."""
        if self.per_target is not None:
            return self.per_target[0].gated
        return self.gate is not None and getattr(self.gate, "learned", True)

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        mask: torch.Tensor | None = None,
        realigned: bool = False,
    ) -> FusionOutput:
        """`realigned`: the audio was already moved by the offset search (over whole videos, by inference); else a
        model with one realigns it within these sequences (a served request) before fusing."""
        if self.per_target is not None:
            return _joined([model(visual, audio, mask, realigned) for model in self.per_target])
        streams, diagnostics = [], {}
        if self.offset_search is not None and not self.training and not realigned:
            audio, diagnostics = self._realign(visual, audio, mask)
        if self.visual_encoder is not None:
            streams.append(F.normalize(self.visual_encoder(visual), dim=-1))  # (B, L, d_v)
        if self.audio_encoder is not None:
            streams.append(F.normalize(self.audio_encoder(audio), dim=-1))  # (B, L, d_a)
        if self.aligner is not None:  # the audio found for each visual frame
            streams[1], diagnostics["attended_lag_s"] = self.aligner(streams[0], streams[1], mask)
        if self.coattention is None:
            return FusionOutput(self.head(torch.cat(streams, dim=-1)), None, None)
        visual_steps, audio_steps = self.coattention(*streams, mask)  # (B, L, M, d_m) each
        visual_fused, audio_fused, visual_alpha, audio_alpha, scale = self.gate(
            visual_steps, audio_steps, mask
        )
        if scale is not None:
            diagnostics["audio_scale"] = scale
        prediction = self.head(torch.cat((visual_fused, audio_fused), dim=-1))
        auxiliary: tuple[torch.Tensor, ...] = ()
        if self.reliability is not None:
            prediction, auxiliary, diagnostics["reliability"] = self.reliability(*streams, prediction)
        return FusionOutput(prediction, visual_alpha, audio_alpha, diagnostics or None, auxiliary)

    def _realign(self, visual, audio, mask) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The audio with the offset search's offset undone where it is confident, and what it decided."""
        valid = _valid(mask, visual)
        offset, confidence, used = self.offset_search.estimate(visual, audio, valid)
        moved, _ = shift_audio(audio, offset * used, valid)
        return moved, {
            "estimated_lag_s": offset.float() / self.cfg.fps,
            "sync_confidence": confidence,
            "realigned": used.float(),
        }


def _valid(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device) if mask is None else mask


def _joined(outs: list[FusionOutput]) -> FusionOutput:
    """One model per target, as one: predictions side by side, gates and diagnostics stacked on a target axis."""

    def stacked(values):
        return None if values[0] is None else torch.stack(values, dim=2)  # (B, L, outputs, ...)

    gates = [stacked([o[k] for o in outs]) for k in (1, 2)]
    diagnostics = None
    if outs[0].diagnostics:
        diagnostics = {
            name: torch.cat([o.diagnostics[name] for o in outs], dim=2)
            if name == "reliability"  # (B, L, 1, 3) each: targets already have an axis
            else torch.stack([o.diagnostics[name] for o in outs], dim=2)
            for name in outs[0].diagnostics
        }
    auxiliary = tuple(torch.cat(parts, dim=-1) for parts in zip(*(o.auxiliary for o in outs)))
    return FusionOutput(torch.cat([o.prediction for o in outs], dim=-1), *gates, diagnostics, auxiliary)


def build_model(cfg: ModelConfig) -> FusionModel:
    return FusionModel(cfg)
