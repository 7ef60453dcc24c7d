"""The conditions the misalignment protocol scores a model under, and their settings (params.yaml's `evaluate:`,
`tagf robustness` flags): audio shifts in seconds, modality noise, modality dropout.

    shift_s          audio shifted by ±s seconds against the video (+ = audio late); each video by its own frames
    audio_noise      Gaussian noise on the audio features at an SNR in dB (visual_noise: on the visual ones)
    audio_dropout    a fraction of frames with the audio features zeroed (visual_dropout: the visual ones)

Within each condition the frames are grouped by their effective audio lag (|built-in lag + applied shift|, in the
bins of `lag_bins_s`), the main view of misalignment. A module of settings and names only, so that the command line
shows the defaults without importing torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SHIFT = "shift_s"
# Every perturbation, in the order tables and figures show them, with its axis label.
PERTURBATIONS = {
    SHIFT: "audio shift (s, + = audio late)",
    "audio_noise": "audio SNR (dB)",
    "visual_noise": "visual SNR (dB)",
    "audio_dropout": "audio frames dropped",
    "visual_dropout": "visual frames dropped",
}
IDENTITY_AT_ZERO = {SHIFT, "audio_dropout", "visual_dropout"}  # level 0 of these changes nothing


def distinct_non_negative(seconds: list[float]) -> list[float]:
    if any(s < 0 for s in seconds) or len(set(seconds)) < len(seconds):
        raise ValueError(f"expected distinct seconds >= 0 (each is used as ±), got {seconds}")
    return seconds


class ProtocolSettings(BaseModel):
    """The levels of each condition (0, the clean condition, is always scored)."""

    model_config = ConfigDict(extra="forbid")

    shifts_s: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0],
        description="audio shifts in seconds, each used as ± and turned into frames with each video's fps; "
        "0 (clean) is always scored",
    )
    snr_db: list[float] = Field(
        default_factory=lambda: [20.0, 10.0, 0.0], description="modality noise levels"
    )
    dropout: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5], description="modality dropout fractions"
    )
    lag_bins_s: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0],
        description="lower edges of the effective-lag bins, seconds (the last bin is open above)",
    )
    min_frames: int = Field(
        50, gt=1, description="frames a video needs in a pooled cell to have a CCC there (fewer: no value)"
    )

    @field_validator("shifts_s")
    @classmethod
    def _shifts(cls, value: list[float]) -> list[float]:
        return distinct_non_negative(value)

    @field_validator("lag_bins_s")
    @classmethod
    def _bins(cls, value: list[float]) -> list[float]:
        if not value or value[0] != 0 or any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"expected increasing edges starting at 0, got {value}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values: Any) -> Any:
        if isinstance(values, dict) and "shifts" in values:  # older params files: say what replaced it
            raise ValueError("shifts (frames) is now shifts_s: seconds, each used as ±, e.g. [0.5, 1, 2]")
        return values

    def signed_shifts_s(self) -> list[float]:
        """Every shift scored, in seconds: 0 and each level as ±, in order."""
        return sorted({0.0, *(s for k in self.shifts_s for s in (-k, k))})


def drop_key(perturbation: str, level: float) -> str:
    """The key of a level in a row's `drop_<perturbation>`: `+0.5` (seconds of shift), `10` (dB), `0.25` (fraction)."""
    return f"{level:+g}" if perturbation == SHIFT else f"{level:g}"


def lag_bin_labels(edges: list[float]) -> list[str]:
    """`lag[0,0.25)`, ..., `lag[2,inf)`: the subset names of the effective-lag bins."""
    bounds = [*edges, float("inf")]
    return [f"lag[{low:g},{high:g})" for low, high in zip(bounds[:-1], bounds[1:])]
