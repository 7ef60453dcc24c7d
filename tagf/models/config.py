"""One validated configuration for every fusion model; the registry presets it per variant."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tagf.limits import bounded

Fusion = Literal["coattention", "concat", "visual_only", "audio_only"]
# The gates' names, spelled here so that the settings import without torch; tests/test_models.py checks them
# against the registry of tagf.models.gates.
Gate = Literal["step_bilstm", "step_bilstm_free", "time_bilstm", "fc", "mean", "last", "crossmodal"]
AudioAlignment = Literal["none", "oracle", "attention", "search"]
Output = Literal["head", "reliability"]
KeyMode = Literal["faithful", "length_agnostic"]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    visual_in: Annotated[int, bounded(65_536, "features")] = Field(
        512, gt=0, description="visual feature size per frame (IR-ResNet-50: 512)"
    )
    audio_in: Annotated[int, bounded(65_536, "features")] = Field(
        128, gt=0, description="audio feature size per frame (VGGish: 128)"
    )
    visual_channels: tuple[Annotated[int, bounded(8_192, "channels")], ...] = Field(
        (512, 512, 256, 256), min_length=1, max_length=16, description="visual TCN widths"
    )
    audio_channels: tuple[Annotated[int, bounded(8_192, "channels")], ...] = Field(
        (128, 128, 128, 128), min_length=1, max_length=16, description="audio TCN widths"
    )
    tcn_kernel: Annotated[int, bounded(64, "frames")] = Field(
        5, gt=1, description="TCN kernel size; level i dilates by 2**i"
    )
    tcn_dropout: float = Field(0.1, ge=0, lt=1, description="dropout after each TCN convolution")
    fusion: Fusion = Field("coattention", description="how the two streams meet")
    steps: Annotated[int, bounded(16, "steps")] = Field(2, ge=1, description="recursive co-attention steps S")
    gate: Gate = Field("step_bilstm", description="how the S+1 candidates are weighed per frame")
    key_mode: KeyMode = Field("faithful", description="faithful: key is a Linear over time (fixed window)")
    window: Annotated[int, bounded(9_000, "frames")] = Field(
        300, gt=0, description="window length L; fixed in faithful key mode"
    )
    attention_dropout: float = Field(
        0.6, ge=0, lt=1, description="dropout on attention maps and residual updates"
    )
    gate_dropout: float = Field(0.1, ge=0, lt=1, description="dropout inside the BiLSTM gates")
    temperature: float = Field(0.1, gt=0, description="softmax temperature τ of the step_bilstm and fc gates")
    head_hidden: Annotated[int, bounded(16_384, "units")] = Field(
        256, gt=0, description="hidden width of the regression head"
    )
    outputs: int = Field(2, ge=1, le=2, description="2: valence and arousal; 1: one target per model")
    separate_targets: bool = Field(
        False,
        description="with 2 outputs: one complete model per target (the authors' set-up), not a joint head",
    )
    audio_alignment: AudioAlignment = Field(
        "none",
        description="oracle: the audio realigned by each frame's ground-truth lag (synthetic corpora only, a "
        "control); attention: each visual frame attends over the audio within ±max_lag_s (tagf.models.lag_attention); "
        "search: the offset found by a self-supervised sync search and undone (tagf.models.offset_search)",
    )
    max_lag_s: float = Field(
        3.0, gt=0, description="attention and search alignment: the farthest lag it looks, in seconds"
    )
    sync_window_s: float = Field(
        6.0,
        gt=0,
        description="search alignment: the seconds of evidence pooled for each frame's offset (longer: found more "
        "often; shorter: follows a drifting lag faster)",
    )
    sync_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="search alignment: the least posterior mass near its offset it needs to undo it (else: "
        "unshifted); fitting raises it to what unrelated audio reaches in 5 % of frames",
    )
    fps: float = Field(30.0, gt=0, description="frames per second of the training data (set by training)")
    output: Output = Field(
        "head",
        description="reliability: per-frame weights over visual, audio and fused predictions (tagf.models.reliability)",
    )
    auxiliary_weight: float = Field(
        0.5, ge=0, description="reliability: weight of each unimodal head's 1 − CCC loss"
    )
    init: Literal["pytorch", "authors"] = Field(
        "pytorch",
        description="authors: xavier-uniform Linear weights and zero biases in the fusion (co-attention and "
        "gates), xavier-uniform initial BiLSTM-gate state and TCN 1×1 downsample weights (gain √2), as the "
        "authors' TAGF.init_weights, LSTM and TemporalBlock.init_weights do",
    )

    @property
    def visual_dim(self) -> int:
        return self.visual_channels[-1]

    @property
    def audio_dim(self) -> int:
        return self.audio_channels[-1]
