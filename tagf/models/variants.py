"""Named fusion variants: a variant is a preset of ModelConfig's fusion switches, nothing else.

Adding a variant is adding one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tagf.errors import ParamsError
from tagf.models.config import ModelConfig

VARIANTS: dict[str, dict[str, Any]] = {
    "tagf": dict(fusion="coattention", gate="step_bilstm", steps=2),  # TAGF as released
    "tagf_time": dict(fusion="coattention", gate="time_bilstm", steps=2),  # BiLSTM along time
    "grjca": dict(fusion="coattention", gate="fc", steps=2),  # gated RJCA
    "mean_gate": dict(fusion="coattention", gate="mean", steps=2),
    "rjcma": dict(fusion="coattention", gate="last", steps=2),  # recursive JCA, final step only
    "jca": dict(fusion="coattention", gate="last", steps=1),  # joint cross-attention, one step
    "tagf_free": dict(
        fusion="coattention", gate="step_bilstm_free", steps=2
    ),  # the step gate without its bound
    "tagf_xmodal": dict(
        fusion="coattention", gate="crossmodal", steps=2
    ),  # the gate sees both, scales the audio
    "lag_attention": dict(fusion="coattention", gate="step_bilstm", steps=2, audio_alignment="attention"),
    "reliability": dict(fusion="coattention", gate="step_bilstm", steps=2, output="reliability"),
    "sync_align": dict(
        fusion="coattention", gate="step_bilstm", steps=2, audio_alignment="search"
    ),  # the offset found and undone
    "oracle_align": dict(
        fusion="coattention", gate="step_bilstm", steps=2, audio_alignment="oracle"
    ),  # a control
    "concat": dict(fusion="concat"),
    "visual_only": dict(fusion="visual_only"),
    "audio_only": dict(fusion="audio_only"),
}


AA_SEED_OFFSET = (
    100_003  # the A/A copy's training seeds: the grid's plus this (another stream of inits and orders)
)


@dataclass(frozen=True)
class Variant:
    """A variant as params name it and a run trains it: a registered preset, and, for the A/A check, the same
    preset trained again from other training seeds (a control: by this field, never by its name)."""

    name: str
    aa_copy: bool = False

    def __post_init__(self):
        if self.name not in VARIANTS:
            raise ParamsError(f"unknown model variant {self.name!r}; known: {', '.join(VARIANTS)}")

    @property
    def label(self) -> str:
        """How tables and runs name it: `tagf`, or `tagf_aa` for the A/A copy."""
        return f"{self.name}_aa" if self.aa_copy else self.name

    @property
    def preset(self) -> dict[str, Any]:
        return VARIANTS[self.name]

    def training_seed(self, seed: int) -> int:
        return seed + AA_SEED_OFFSET if self.aa_copy else seed


def model_config(variant: str = "tagf", **overrides: Any) -> ModelConfig:
    """The config of a named variant; `overrides` set or change any ModelConfig field (e.g. steps=3)."""
    if variant not in VARIANTS:
        raise ParamsError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")
    return ModelConfig(**{**VARIANTS[variant], **overrides})


def variant_of(cfg: ModelConfig) -> str:
    """The registered variant this config is (its fusion switches match the preset; the preset setting the most
    switches first, so lag_attention is not taken for tagf), else a description of it."""
    for name, preset in sorted(VARIANTS.items(), key=lambda item: -len(item[1])):
        if all(getattr(cfg, field) == value for field, value in preset.items()):
            return name
    return f"{cfg.fusion} (gate {cfg.gate}, {cfg.steps} steps)"
